{#-
    Everything evcap had to leave out or guess, one row per element (or data
    source) and issue: meters that reach no transformer (orphans, loops, the
    top of the grid, cut off by an open switch), topology cycles,
    transformers with unusable nameplate data, meters without a consumption
    source, rejected readings (counted per data source).
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
            when walk_status = 'dangling_upstream' then 'orphan_meter'
            when
                walk_status = 'open_switch'
                then lower(element_type) || '_disconnected_by_open_switch'
            else 'meter_without_transformer'
        end as issue_code,
        case
            when walk_status = 'cycle'
                then
                    'upstream chain runs into a loop of elements'
                    || ' without a transformer'
            when walk_status = 'dangling_upstream'
                then
                    'upstream chain ends at ' || walk_end_id
                    || ', which is not an element of the grid, after '
                    || hops || ' hops'
            when walk_status = 'open_switch'
                then
                    'open element ' || walk_end_id || ' (' || hops
                    || ' hops up) cuts it off from transformer '
                    || last_known_transformer_id
                    || case
                        when element_type = 'Meter'
                            then ', where it still counts as expected'
                        else ''
                    end
            else
                'upstream chain reaches the top (' || walk_end_id
                || ') after ' || hops || ' hops without a transformer'
        end as detail,
        cast(null as bigint) as readings
    from walked
    where
        walk_status = 'cycle'
        or (element_type = 'Transformer' and walk_status = 'open_switch')
        or (element_type = 'Meter' and walk_status <> 'found_transformer')

),

transformer_cycle_issues as (

    select
        grid_id,
        transformer_id as element_id,
        'Transformer' as element_type,
        cast(null as uuid) as data_source_id,
        'topology_cycle' as issue_code,
        'its chain of parent transformers loops back (via '
        || parent_transformer_id || '); cut at ' || top_transformer_id
            as detail,
        cast(null as bigint) as readings
    from {{ ref('int_transformers_nested') }}
    where is_in_cycle

),

nameplates as (

    select * from {{ ref('int_transformer_nameplates_parsed') }}

),

rating_issues as (

    select
        grid_id,
        transformer_id as element_id,
        'Transformer' as element_type,
        cast(null as uuid) as data_source_id,
        'rating_' || rating_kva_status as issue_code,
        'meta.rating_kva = ' || coalesce(rating_kva_text, 'null') as detail,
        cast(null as bigint) as readings
    from nameplates
    where rating_kva_status <> 'ok'

),

nameplate_notation_issues as (

    select
        grid_id,
        transformer_id as element_id,
        'Transformer' as element_type,
        cast(null as uuid) as data_source_id,
        'secondary_voltage_unparseable' as issue_code,
        'meta.secondary_voltage = ' || secondary_voltage_text
        || ' matches no notation of seed edm_notations' as detail,
        cast(null as bigint) as readings
    from nameplates
    where secondary_voltage_status = 'unparseable'

    union all

    select
        grid_id,
        transformer_id as element_id,
        'Transformer' as element_type,
        cast(null as uuid) as data_source_id,
        'phases_unparseable' as issue_code,
        'phases = ' || phases
        || ' matches no notation of seed edm_notations' as detail,
        cast(null as bigint) as readings
    from nameplates
    where phases_status = 'unparseable'

    union all

    select
        grid_id,
        transformer_id as element_id,
        'Transformer' as element_type,
        cast(null as uuid) as data_source_id,
        'voltage_level_unparseable' as issue_code,
        'meta.voltage_level = ' || voltage_level
        || ' matches no notation of seed edm_notations' as detail,
        cast(null as bigint) as readings
    from nameplates
    where voltage_level_status = 'unparseable'

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
    select * from transformer_cycle_issues
    union all
    select * from rating_issues
    union all
    select * from nameplate_notation_issues
    union all
    select * from meters_without_consumption
    union all
    select * from rejected_readings

)

select * from final
