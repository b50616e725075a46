{{
    config(
        indexes=[
            {'columns': ['grid_id', 'element_id'], 'unique': true},
            {'columns': ['grid_id', 'upstream_element_id']},
        ],
    )
}}

{#-
    Every grid element with its link upstream, as a table indexed on
    (grid_id, upstream_element_id): the topology walks look up the children
    of one element at a time, so each lookup is an index probe and a walk
    costs in proportion to the elements it reaches, however deep the feeder.

    upstream_state says what the element's upstream_grid_element_id points
    at: 'top' (null), 'dangling' (an id that is not an element of the same
    grid) or 'linked'; upstream_is_transformer / upstream_is_open describe
    the element it points at, so the walk starts without a self-join. An
    open element (is_open: switch_is_open, or meta
    normally_open / normal_open / open true) is fed but feeds nothing.
-#}

with

elements as (

    select
        grid_id,
        element_id,
        element_type,
        upstream_element_id,
        is_transformer,
        is_meter,
        is_open
    from {{ ref('stg_edm__grid_elements') }}

),

final as (

    select
        elements.grid_id,
        elements.element_id,
        elements.element_type,
        elements.upstream_element_id,
        elements.is_transformer,
        elements.is_meter,
        elements.is_open,
        case
            when elements.upstream_element_id is null then 'top'
            when upstream.element_id is null then 'dangling'
            else 'linked'
        end as upstream_state,
        coalesce(upstream.is_transformer, false) as upstream_is_transformer,
        coalesce(upstream.is_open, false) as upstream_is_open
    from elements
    left join elements as upstream
        on
            elements.grid_id = upstream.grid_id
            and elements.upstream_element_id = upstream.element_id

)

select * from final
