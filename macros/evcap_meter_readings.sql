{#-
    The rules for meter readings, in one place: stg_edm__meter_readings lists
    them (with the reason of every rejected one) and fct_transformer_load
    sums them.
-#}


{#-
    The latest version of every reading of one data source, as a subquery for
    `cross join lateral`: duplicates of an interval are resolved per data
    source (latest `received` wins; ties: larger value, then shorter period),
    so the sort is small and reuses the source's (id, metric, ts) order.
    Columns: interval_start, period_s, energy_kwh, received_at, then any
    `extra_columns` (SQL select items over `ts."timestamp"`, `ts.value`,
    `ts.period`, `ts.received`, computed in the same pass).

    `starting_at` (a timestamptz SQL expression, optional) keeps intervals
    from then on: passed to ts_data_source_select as its `timerange`, and
    repeated on the timestamp, which an inlined function turns into an index
    range (PostgreSQL 15 does not do that for `ts <@ range`). All versions of
    an interval share its timestamp, so this filter never changes a winner.
-#}
{% macro evcap_latest_readings(
    data_source_id_expr, metric_key='kWh', starting_at=none, extra_columns=[]
) -%}
    (
        select distinct on (ts.timestamp)
            ts.timestamp as interval_start,
            ts.period as period_s,
            ts.value as energy_kwh,
            ts.received as received_at
            {%- for column in extra_columns %},
            {{ column }}
            {%- endfor %}
        from
            {{ evcap_ts_data_source_select(
                data_source_id_expr,
                metric_key,
                none if starting_at is none
                else 'tstzrange(' ~ starting_at ~ ', null)'
            ) }} as ts
        {%- if starting_at is not none %}
            where ts.timestamp >= {{ starting_at }}
        {%- endif %}
        order by
            ts.timestamp asc,
            ts.received desc nulls last,
            ts.value desc nulls last,
            ts.period asc
    )
{%- endmacro %}


{#-
    Why a reading is rejected (null = valid), checked in this order. A
    rejected reading is listed in staging and never summed. `max_kw` (SQL
    expression, null = no limit) is the highest average kW the meter's
    service can draw (stg_edm__data_sources.max_service_kw): above it a
    reading is physically impossible (a spike: implausible_value).
-#}
{% macro evcap_reading_reject_reason(
    energy_kwh, period_s, interval_start, valid_during, max_kw='null'
) -%}
    case
        when {{ energy_kwh }} is null then 'value_missing'
        when
            {{ energy_kwh }} in (
                cast('NaN' as float8),
                cast('Infinity' as float8),
                cast('-Infinity' as float8)
            )
            then 'value_not_finite'
        when {{ period_s }} is null or {{ period_s }} <= 0 then 'period_invalid'
        when {{ energy_kwh }} < 0 then 'negative_energy'
        when {{ evcap_average_kw(energy_kwh, period_s) }} > {{ max_kw }}
            then 'implausible_value'
        when not {{ valid_during }} @> {{ interval_start }}
            then 'outside_valid_range'
        when {{ interval_start }} > {{ evcap_latest_plausible_time() }}
            then 'timestamp_in_future'
    end
{%- endmacro %}


{#-
    True when a reading is valid, i.e. exactly when
    evcap_reading_reject_reason(...) is null; null or false otherwise. The
    cheap form for the roll-up: `value >= 0 and value < 'Infinity'` rejects
    null, negative, NaN (PostgreSQL orders NaN above every number) and both
    infinities in two comparisons. The unit test
    fct_transformer_load.load_rejects_exactly_what_staging_rejects holds the
    two macros together.
-#}
{% macro evcap_reading_is_valid(
    energy_kwh, period_s, interval_start, valid_during, max_kw='null'
) -%}
    (
        {{ energy_kwh }} >= 0
        and {{ energy_kwh }} < cast('Infinity' as float8)
        and {{ period_s }} > 0
        -- kW above the service limit, without a division by the period
        and not coalesce(
            {{ energy_kwh }} * 3600.0 > {{ max_kw }} * {{ period_s }}, false
        )
        and (
            {{ valid_during }} is null
            or {{ valid_during }} @> {{ interval_start }}
        )
        and {{ interval_start }} <= {{ evcap_latest_plausible_time() }}
    )
{%- endmacro %}


{#- Average kW over the interval from its kWh (DESIGN.md section 1). -#}
{% macro evcap_average_kw(energy_kwh, period_s) -%}
    {{ energy_kwh }} * 3600.0 / {{ period_s }}
{%- endmacro %}


{#-
    Readings stamped later than this are rejected (timestamp_in_future): a
    clock error must not become the newest built interval, which would stop
    incremental runs from picking up real new data.
-#}
{% macro evcap_latest_plausible_time() -%}
    (now() + interval '{{ var("max_future_hours") }} hours')
{%- endmacro %}


{#-
    Every consumption / production kWh reading of every data source, checked
    (one row per data source and interval; the latest version of each, with
    avg_kw, is_rejected and reject_reason): the body of
    stg_edm__meter_readings, as a subquery. `starting_at` (optional SQL
    expression of a timestamptz, e.g. a scalar subquery) reads only
    intervals from then on, through the EDM function's own time range (or
    the readings relation's): what a check of the latest run's slice reads.
-#}
{% macro evcap_checked_meter_readings(starting_at=none) -%}
    (
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
                inner join {{ evcap_readings_from_relation(
                    'kWh', lower_bound=starting_at
                ) }} as readings
                    on data_sources.data_source_id = readings.data_source_id
            {%- else %}
                cross join
                    lateral
                    {{ evcap_latest_readings(
                        'data_sources.data_source_id', 'kWh', starting_at
                    ) }} as readings
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
    )
{%- endmacro %}
