{#-
    For every meter and every transformer: the nearest transformer upstream,
    found by walking upstream_grid_element_id through lines, switches, busbars
    and anything else that is not a transformer. The walk stops at a
    transformer, at the top of the grid, at a dangling reference, at a cycle,
    or after var('max_topology_depth') hops - and says which.
-#}

with recursive

elements as (

    select
        grid_id,
        element_id,
        element_type,
        upstream_element_id,
        is_transformer
    from {{ ref('stg_edm__grid_elements') }}

),

starts as (

    select
        grid_id,
        element_id,
        element_type,
        upstream_element_id
    from elements
    where element_type in ('Meter', 'Transformer')

),

walk as (

    select
        grid_id,
        element_id as start_id,
        upstream_element_id as current_id,
        1 as hops,
        array[element_id] as visited
    from starts

    union all

    select
        walk.grid_id,
        walk.start_id,
        elements.upstream_element_id as current_id,
        walk.hops + 1 as hops,
        walk.visited || elements.element_id as visited
    from walk
    inner join elements
        on
            walk.grid_id = elements.grid_id
            and walk.current_id = elements.element_id
    where
        not elements.is_transformer
        and walk.current_id <> all(walk.visited)
        and walk.hops < {{ var('max_topology_depth') }}

),

walk_ends as (

    select distinct on (grid_id, start_id)
        grid_id,
        start_id,
        current_id,
        hops,
        visited
    from walk
    order by grid_id asc, start_id asc, hops desc

),

final as (

    select
        starts.grid_id,
        starts.element_id,
        starts.element_type,
        case
            when ends.current_id = any(ends.visited) then 'cycle'
            when ends.current_id is null then 'reached_top'
            when reached.element_id is null then 'dangling_upstream'
            when reached.is_transformer then 'found_transformer'
            else 'depth_exceeded'
        end as walk_status,
        case
            when
                reached.is_transformer
                and not ends.current_id = any(ends.visited)
                then ends.current_id
        end as feeding_transformer_id,
        ends.hops,
        ends.current_id as walk_end_id
    from starts
    inner join walk_ends as ends
        on
            starts.grid_id = ends.grid_id
            and starts.element_id = ends.start_id
    left join elements as reached
        on
            ends.grid_id = reached.grid_id
            and ends.current_id = reached.element_id

)

select * from final
