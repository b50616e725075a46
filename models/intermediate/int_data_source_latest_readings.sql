{{
    config(
        indexes=[
            {'columns': ['data_source_id'], 'unique': true},
        ],
    )
}}

{#-
    Every CONSUMER / PRODUCER data source with its latest reading (one
    backwards index probe per source through ts_data_source_select, stamped
    no later than the plausible future): when and over which period it
    reported last. Gives each grid its finest interval
    (int_grids_configured), the lagging sources (int_data_sources_lagging),
    and, through previous_latest_interval_start (this table's value before
    this run), the point from which an incremental roll-up must re-read a
    source that delivers a backlog late. On Citus the previous values are
    read from a copy the pre-hook evcap_citus_before_rebuild keeps (config
    evcap_citus_keep_previous), as the old table is dropped before the
    rebuild.
-#}

{{ config(evcap_citus_keep_previous=true) }}

{%- set previous = (
    adapter.get_relation(this.database, this.schema, this.identifier)
    if execute and not flags.FULL_REFRESH else none
) %}

with

data_sources as (

    select
        data_source_id,
        grid_id,
        element_id as meter_id,
        source_type
    from {{ ref('stg_edm__data_sources') }}
    where source_type in ('CONSUMER', 'PRODUCER')

),

{%- if previous is not none %}

    previous as (

        select
            data_source_id,
            latest_interval_start
        from {{ evcap_citus_previous(previous) }}

    ),
{%- endif %}

probed as (

    select
        data_sources.data_source_id,
        data_sources.grid_id,
        data_sources.meter_id,
        data_sources.source_type,
        latest.interval_start as latest_interval_start,
        latest.period_s as latest_period_s,
        latest.received_at as latest_received_at
    from data_sources
    {% if evcap_readings_relation() -%}
        {#- distributed source contract (Citus): on the shards, no LATERAL -#}
        left join {{ evcap_latest_reading_per_source('kWh') }} as latest
            on data_sources.data_source_id = latest.data_source_id
    {%- else %}
        left join lateral (
            select
                ts.timestamp as interval_start,
                ts.period as period_s,
                ts.received as received_at
            from
                {{ evcap_ts_data_source_select(
                    'data_sources.data_source_id', 'kWh'
                ) }} as ts
            where
                ts.timestamp <= {{ evcap_latest_plausible_time() }}
                and ts.period > 0
            order by ts.timestamp desc
            limit 1
        ) as latest on true
    {%- endif %}

),

final as (

    select
        probed.data_source_id,
        probed.grid_id,
        probed.meter_id,
        probed.source_type,
        probed.latest_interval_start,
        probed.latest_period_s,
        probed.latest_received_at,
        {%- if previous is not none %}
            previous.latest_interval_start
        {%- else %}
            cast(null as timestamptz)
        {%- endif %} as previous_latest_interval_start
    from probed
    {%- if previous is not none %}
        left join previous
            on probed.data_source_id = previous.data_source_id
    {%- endif %}

)

select * from final
