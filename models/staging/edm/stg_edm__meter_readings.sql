{#-
    Every consumption / production kWh reading, one row per data source and
    interval. Read only through the EDM function ts_data_source_select in
    `cross join lateral`; duplicates are resolved per data source inside the
    lateral and readings are checked by the shared rules in
    macros/evcap_meter_readings.sql (the ones fct_transformer_load sums by).
-#}

with

data_sources as (

    select * from {{ ref('stg_edm__data_sources') }}
    where source_type in ('CONSUMER', 'PRODUCER')

),

latest_versions as (

    select
        data_sources.grid_id,
        data_sources.element_id as meter_id,
        data_sources.data_source_id,
        data_sources.source_type,
        data_sources.valid_during,
        data_sources.max_service_kw,
        readings.interval_start,
        readings.period_s,
        readings.energy_kwh,
        readings.received_at
    from
        data_sources
    {%- if evcap_readings_relation() %}
        inner join {{ evcap_readings_from_relation('kWh') }} as readings
            on data_sources.data_source_id = readings.data_source_id
    {%- else %}
        cross join
            lateral
            {{ evcap_latest_readings('data_sources.data_source_id', 'kWh') }}
                as readings
    {%- endif %}

),

checked as (

    select
        grid_id,
        meter_id,
        data_source_id,
        source_type,
        interval_start,
        period_s,
        energy_kwh,
        received_at,
        {{ evcap_reading_reject_reason(
            'energy_kwh',
            'period_s',
            'interval_start',
            'valid_during',
            'max_service_kw',
        ) }} as reject_reason
    from latest_versions

),

final as (

    select
        grid_id,
        meter_id,
        data_source_id,
        source_type,
        interval_start,
        period_s,
        energy_kwh,
        case
            when reject_reason is null
                then {{ evcap_average_kw('energy_kwh', 'period_s') }}
        end as avg_kw,
        received_at,
        reject_reason is not null as is_rejected,
        reject_reason
    from checked

)

select * from final
