{#-
    Everything evcap had to leave out or guess, one row per element (or data
    source) and issue: meters that reach no transformer (orphans, loops, the
    top of the grid, cut off by an open switch), topology cycles,
    transformers with unusable nameplate data, meters without a consumption
    source, rejected readings (counted per data source).
    Topology and rating parts are small and rebuilt every run; rejected
    readings come from the incremental per-day counts of
    int_rejected_readings_counted (no re-read of the history), for the data
    sources the EDM still has.
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

rejected_counts as (

    select * from {{ ref('int_rejected_readings_counted') }}
    where reject_reason is not null

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
        rejected_counts.grid_id,
        rejected_counts.meter_id as element_id,
        'Meter' as element_type,
        rejected_counts.data_source_id,
        'rejected_reading_' || rejected_counts.reject_reason as issue_code,
        'first at ' || min(rejected_counts.first_at) || ', last at '
        || max(rejected_counts.last_at) as detail,
        cast(sum(rejected_counts.readings) as bigint) as readings
    from rejected_counts
    inner join data_sources
        on
            rejected_counts.grid_id = data_sources.grid_id
            and rejected_counts.data_source_id = data_sources.data_source_id
    group by
        rejected_counts.grid_id,
        rejected_counts.meter_id,
        rejected_counts.data_source_id,
        rejected_counts.reject_reason

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
