{#-
    Every consumption / production kWh reading, one row per data source and
    interval. Read only through the EDM function ts_data_source_select in
    `cross join lateral`; duplicates are resolved per data source inside the
    lateral (latest `received` wins; ties: larger value, then shorter period)
    so the sort is small and the source's (id, metric, ts) order is reused.
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
        readings.interval_start,
        readings.period_s,
        readings.energy_kwh,
        readings.received_at
    from data_sources
    cross join lateral (
        select distinct on (ts.timestamp)
            ts.timestamp as interval_start,
            ts.period as period_s,
            ts.value as energy_kwh,
            ts.received as received_at
        from
            {{ evcap_ts_data_source_select(
                'data_sources.data_source_id', 'kWh'
            ) }} as ts
        order by
            ts.timestamp asc,
            ts.received desc nulls last,
            ts.value desc nulls last,
            ts.period asc
    ) as readings

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
        case
            when energy_kwh is null then 'value_missing'
            when
                energy_kwh in (
                    cast('NaN' as float8),
                    cast('Infinity' as float8),
                    cast('-Infinity' as float8)
                )
                then 'value_not_finite'
            when period_s is null or period_s <= 0 then 'period_invalid'
            when energy_kwh < 0 then 'negative_energy'
            when not valid_during @> interval_start then 'outside_valid_range'
        end as reject_reason
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
            when reject_reason is null then energy_kwh * 3600.0 / period_s
        end as avg_kw,
        received_at,
        reject_reason is not null as is_rejected,
        reject_reason
    from checked

)

select * from final
