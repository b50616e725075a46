{#-
    Everything evcap had to leave out or guess, one row per element (or data
    source) and issue: meters that reach no transformer, topology cycles and
    depth blow-ups, transformers with unusable nameplate data, meters without
    a consumption source, rejected readings (counted per data source).
-#}

with

walked as (

    select * from {{ ref('int_elements_walked_to_transformers') }}

),

elements as (

    select * from {{ ref('stg_edm__grid_elements') }}

),

data_sources as (

    select * from {{ ref('stg_edm__data_sources') }}

),

readings as (

    select * from {{ ref('stg_edm__meter_readings') }}

),

topology_issues as (

    select
        grid_id,
        element_id,
        element_type,
        cast(null as uuid) as data_source_id,
        case
            when walk_status = 'cycle' then 'topology_cycle'
            when walk_status = 'depth_exceeded' then 'topology_depth_exceeded'
            when walk_status = 'dangling_upstream' then 'orphan_meter'
            else 'meter_without_transformer'
        end as issue_code,
        'walk from ' || element_id || ' ended at '
        || coalesce(walk_end_id, 'the top of the grid')
        || ' after ' || hops || ' hops' as detail,
        cast(null as bigint) as readings
    from walked
    where
        walk_status in ('cycle', 'depth_exceeded')
        or (
            element_type = 'Meter'
            and walk_status in ('dangling_upstream', 'reached_top')
        )

),

rating_issues as (

    select
        grid_id,
        element_id,
        element_type,
        cast(null as uuid) as data_source_id,
        'rating_' || rating_kva_status as issue_code,
        'meta.rating_kva = ' || coalesce(rating_kva_text, 'null') as detail,
        cast(null as bigint) as readings
    from elements
    where is_transformer and rating_kva_status <> 'ok'

),

meters_without_consumption as (

    select
        elements.grid_id,
        elements.element_id,
        elements.element_type,
        cast(null as uuid) as data_source_id,
        'meter_without_consumer_source' as issue_code,
        'no CONSUMER data source' as detail,
        cast(null as bigint) as readings
    from elements
    where
        elements.is_meter
        and not exists (
            select 1 as found
            from data_sources
            where
                data_sources.grid_id = elements.grid_id
                and data_sources.element_id = elements.element_id
                and data_sources.source_type = 'CONSUMER'
        )

),

rejected_readings as (

    select
        grid_id,
        meter_id as element_id,
        'Meter' as element_type,
        data_source_id,
        'rejected_reading_' || reject_reason as issue_code,
        'first at ' || min(interval_start) || ', last at '
        || max(interval_start) as detail,
        count(*) as readings
    from readings
    where is_rejected
    group by grid_id, meter_id, data_source_id, reject_reason

),

final as (

    select * from topology_issues
    union all
    select * from rating_issues
    union all
    select * from meters_without_consumption
    union all
    select * from rejected_readings

)

select * from final
