{{
    config(
        indexes=[
            {'columns': ['grid_id', 'element_id'], 'unique': true},
        ],
    )
}}

{#-
    For every meter and every transformer: the nearest transformer upstream
    through lines, switches, busbars and anything else that is not a
    transformer - or why there is none.

    The walk goes DOWN, once, from every place a chain can start: the
    children of each transformer, each element without an upstream id
    (reached_top) and each element whose upstream id does not exist
    (dangling_upstream). It follows upstream_grid_element_id backwards
    (children of an element: same grid_id, upstream_element_id = its id) and
    stops below a transformer, whose own walk carries on. Every element has
    one upstream id, so it is reached at most once: the walk produces one row
    per reached element, with no visited arrays and no depth cap, and each
    step is an index probe on int_grid_elements_linked.

    An open element (switch_is_open, or meta normally_open / open true) is
    reached but feeds nothing: below it the status becomes open_switch, the
    feeding transformer is gone, and last_known_transformer_id keeps the
    transformer above the switch (the first one up the chain when open
    switches are ignored). Elements the walk never reaches are exactly those
    whose upstream chain runs into a loop without a transformer: cycle.
-#}

with recursive

seeds as (

    select
        grid_id,
        element_id,
        is_transformer,
        is_open,
        case
            when upstream_state = 'top' then 'reached_top'
            when upstream_state = 'dangling' then 'dangling_upstream'
            when upstream_is_open then 'open_switch'
            else 'found_transformer'
        end as walk_status,
        case
            when upstream_is_transformer and not upstream_is_open
                then upstream_element_id
        end as feeding_transformer_id,
        case
            when upstream_is_transformer then upstream_element_id
        end as last_known_transformer_id,
        case
            when upstream_state = 'top' then element_id
            else upstream_element_id
        end as walk_end_id,
        case when upstream_state = 'top' then 0 else 1 end as hops
    from {{ ref('int_grid_elements_linked') }}
    where upstream_state <> 'linked' or upstream_is_transformer

),

walk as (

    select
        grid_id,
        element_id,
        is_transformer,
        is_open,
        walk_status,
        feeding_transformer_id,
        last_known_transformer_id,
        walk_end_id,
        hops
    from seeds

    union all

    select
        walk.grid_id,
        child.element_id,
        child.is_transformer,
        child.is_open,
        case
            when walk.is_open and walk.walk_status = 'found_transformer'
                then 'open_switch'
            else walk.walk_status
        end as walk_status,
        case
            when not walk.is_open then walk.feeding_transformer_id
        end as feeding_transformer_id,
        walk.last_known_transformer_id,
        case
            when
                walk.is_open
                and walk.walk_status in ('found_transformer', 'open_switch')
                then walk.element_id
            else walk.walk_end_id
        end as walk_end_id,
        case
            when
                walk.is_open
                and walk.walk_status in ('found_transformer', 'open_switch')
                then 1
            else walk.hops + 1
        end as hops
    from walk
    cross join
        lateral (
            {#- offset 0 keeps this a per-row index probe, never a rescan -#}
            select
                children.element_id,
                children.is_transformer,
                children.is_open
            from {{ ref('int_grid_elements_linked') }} as children
            where
                children.grid_id = walk.grid_id
                and children.upstream_element_id = walk.element_id
            offset 0  -- noqa: AM09
        ) as child
    where not walk.is_transformer

),

final as (

    select
        linked.grid_id,
        linked.element_id,
        linked.element_type,
        coalesce(walk.walk_status, 'cycle') as walk_status,
        walk.feeding_transformer_id,
        walk.last_known_transformer_id,
        walk.hops,
        walk.walk_end_id
    from {{ ref('int_grid_elements_linked') }} as linked
    left join walk
        on
            linked.grid_id = walk.grid_id
            and linked.element_id = walk.element_id
    where linked.is_meter or linked.is_transformer

)

select * from final
