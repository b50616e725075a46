{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='append_new_columns',
        indexes=[{'columns': ['grid_id', 'day_start']}],
        pre_hook=["{{ evcap_set_work_mem() }}"],
        post_hook=["{{ evcap_delete_superseded_rejected_readings(this) }}"],
    )
}}

{#-
    Rejected meter readings counted per data source, reject reason and UTC
    day (the rules of macros/evcap_meter_readings.sql, as in
    stg_edm__meter_readings), so int_data_issues_collected never re-reads the
    history. Readings come through the EDM function per data source on one
    node, or from var('evcap_readings_relation') when set (required on
    Citus, where the function cannot be called per data source).

    Each grid also has one row with a null reject_reason: its watermark
    (day_start = the latest day with any reading, sources_fingerprint = a
    hash of its data sources: ids, meters, types and valid ranges).
    Incremental runs read each grid from the UTC day of its latest reading
    minus var('lookback_hours') on (read_from), append those days, and the
    post-hook deletes the older rows of the same days; a grid whose data
    sources changed (a new meter with its backfill, a valid range changed, a
    source removed) or that is new is read whole; a grid without data
    sources loses its rows.
-#}

with

sources_now as (

    {{ evcap_data_sources_fingerprints() }}

),

grid_cutoffs as (

    select
        sources_now.grid_id,
        sources_now.sources_fingerprint,
        {%- if is_incremental() %}
            coalesce(
                {{ evcap_rejected_readings_cutoff('sources_now', this) }},
                '-infinity'
            ) as starting_at
        {%- else %}
            cast('-infinity' as timestamptz) as starting_at
        {%- endif %}
    from sources_now

),

data_sources as (

    select
        data_sources.grid_id,
        data_sources.element_id as meter_id,
        data_sources.data_source_id,
        data_sources.valid_during,
        data_sources.max_service_kw,
        grid_cutoffs.starting_at
    from {{ ref('stg_edm__data_sources') }} as data_sources
    inner join grid_cutoffs
        on data_sources.grid_id = grid_cutoffs.grid_id
    where data_sources.source_type in ('CONSUMER', 'PRODUCER')

),

checked as (

    select
        data_sources.grid_id,
        data_sources.meter_id,
        data_sources.data_source_id,
        latest.interval_start,
        {{ evcap_reading_reject_reason(
            'latest.energy_kwh',
            'latest.period_s',
            'latest.interval_start',
            'data_sources.valid_during',
            'data_sources.max_service_kw',
        ) }} as reject_reason
    from
        data_sources
    {%- if evcap_readings_relation() %}
        {#-
            Distributed source contract (Citus): a plain join that runs on
            the shards of the readings relation, no LATERAL call of the EDM
            function (macros/evcap_citus.sql).
        #}
        inner join
            {{ evcap_readings_from_relation(
                'kWh',
                lower_bound=(
                    '(select min(bounds.starting_at) from grid_cutoffs'
                    ~ ' as bounds)'
                ),
            ) }} as latest
            on
                data_sources.data_source_id = latest.data_source_id
                and latest.interval_start >= data_sources.starting_at
    {%- else %}
        cross join
            lateral
            {{ evcap_latest_readings(
                'data_sources.data_source_id', 'kWh', 'data_sources.starting_at'
            ) }} as latest
    {%- endif %}

),

rejected as (

    select
        grid_id,
        meter_id,
        data_source_id,
        reject_reason,
        date_trunc('day', interval_start, 'UTC') as day_start,
        min(interval_start) as first_at,
        max(interval_start) as last_at,
        count(*) as readings
    from checked
    where reject_reason is not null
    group by
        grid_id,
        meter_id,
        data_source_id,
        reject_reason,
        date_trunc('day', interval_start, 'UTC')

),

watermarks as (

    select
        checked.grid_id,
        cast(null as text) as meter_id,
        cast(null as uuid) as data_source_id,
        cast(null as text) as reject_reason,
        date_trunc('day', max(checked.interval_start), 'UTC') as day_start,
        min(checked.interval_start) as first_at,
        max(checked.interval_start) as last_at,
        count(*) as readings
    from checked
    group by checked.grid_id

),

final as (

    select
        parts.grid_id,
        parts.meter_id,
        parts.data_source_id,
        parts.reject_reason,
        parts.day_start,
        parts.first_at,
        parts.last_at,
        parts.readings,
        case
            when parts.reject_reason is null
                then grid_cutoffs.sources_fingerprint
        end as sources_fingerprint,
        case
            when parts.reject_reason is null then grid_cutoffs.starting_at
        end as read_from,
        {{ evcap_run_started_at() }} as rebuilt_at
    from (
        select * from rejected
        union all
        select * from watermarks
    ) as parts
    inner join grid_cutoffs
        on parts.grid_id = grid_cutoffs.grid_id

)

select * from final
