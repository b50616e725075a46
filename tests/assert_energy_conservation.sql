{#-
    Energy conservation: in every interval, a transformer's load equals the
    loads of its child transformers plus the net load of the meters it feeds
    directly (recomputed here from the readings, by the shared rules of
    macros/evcap_meter_readings.sql). Transformers in a topology cycle are
    left out (their chain is cut, so they cannot balance).

    Checked on the slice the latest run rewrote (macros/
    evcap_latest_run_slice.sql): per grid, every interval from the first one
    that run wrote, and the readings of those intervals only (read from
    then on through ts_data_source_select's timerange). After a full
    refresh that is everything.
-#}

{%- set avg_kw_column -%}
    case
        when {{ evcap_reading_is_valid(
            'ts.value', 'ts.period', 'ts.timestamp', 'data_sources.valid_during'
        ) }}
            then {{ evcap_average_kw('ts.value', 'ts.period') }}
    end as avg_kw
{%- endset %}

with

latest_run as (

    select max(rebuilt_at) as rebuilt_at
    from {{ ref('fct_transformer_load') }}

),

checked_from as (

    {#- per grid: the first interval the latest run wrote -#}
    select
        loads.grid_id,
        min(loads.interval_start) as starting_at
    from {{ ref('fct_transformer_load') }} as loads
    inner join latest_run
        on loads.rebuilt_at = latest_run.rebuilt_at
    group by loads.grid_id

),

loads as (

    select
        loads.grid_id,
        loads.transformer_id,
        loads.interval_start,
        loads.load_kw
    from {{ ref('fct_transformer_load') }} as loads
    inner join checked_from
        on
            loads.grid_id = checked_from.grid_id
            and loads.interval_start >= checked_from.starting_at

),

transformers as (

    select * from {{ ref('int_transformers_nested') }}
    where not is_in_cycle

),

direct_meters as (

    select
        grid_id,
        meter_id,
        transformer_id
    from {{ ref('int_meters_mapped_to_transformers') }}
    where level = 1

),

readings as (

    select
        data_sources.grid_id,
        data_sources.element_id as meter_id,
        data_sources.source_type,
        latest.interval_start,
        latest.avg_kw
    from {{ ref('stg_edm__data_sources') }} as data_sources
    inner join checked_from
        on data_sources.grid_id = checked_from.grid_id
    cross join
        lateral
        {{ evcap_latest_readings(
            'data_sources.data_source_id',
            'kWh',
            'checked_from.starting_at',
            extra_columns=[avg_kw_column],
        ) }} as latest
    where
        data_sources.source_type in ('CONSUMER', 'PRODUCER')
        and latest.avg_kw is not null

),

direct_load as (

    select
        direct_meters.grid_id,
        direct_meters.transformer_id,
        readings.interval_start,
        sum(
            case
                when readings.source_type = 'PRODUCER' then -readings.avg_kw
                else readings.avg_kw
            end
        ) as load_kw
    from readings
    inner join direct_meters
        on
            readings.grid_id = direct_meters.grid_id
            and readings.meter_id = direct_meters.meter_id
    group by
        direct_meters.grid_id,
        direct_meters.transformer_id,
        readings.interval_start

),

children_load as (

    select
        transformers.grid_id,
        transformers.parent_transformer_id as transformer_id,
        loads.interval_start,
        sum(loads.load_kw) as load_kw
    from loads
    inner join transformers
        on
            loads.grid_id = transformers.grid_id
            and loads.transformer_id = transformers.transformer_id
    where transformers.parent_transformer_id is not null
    group by
        transformers.grid_id,
        transformers.parent_transformer_id,
        loads.interval_start

),

parts as (

    select * from direct_load
    union all
    select * from children_load

),

expected as (

    select
        grid_id,
        transformer_id,
        interval_start,
        sum(load_kw) as load_kw
    from parts
    group by grid_id, transformer_id, interval_start

),

actual as (

    select loads.*
    from loads
    inner join transformers
        on
            loads.grid_id = transformers.grid_id
            and loads.transformer_id = transformers.transformer_id

),

validation_errors as (

    select
        coalesce(expected.grid_id, actual.grid_id) as grid_id,
        coalesce(
            expected.transformer_id, actual.transformer_id
        ) as transformer_id,
        coalesce(
            expected.interval_start, actual.interval_start
        ) as interval_start,
        expected.load_kw as expected_load_kw,
        actual.load_kw as actual_load_kw
    from expected
    full outer join actual
        on
            expected.grid_id = actual.grid_id
            and expected.transformer_id = actual.transformer_id
            and expected.interval_start = actual.interval_start
    where
        expected.load_kw is null
        or actual.load_kw is null
        or abs(expected.load_kw - actual.load_kw)
        > 1e-6 * greatest(1.0, abs(actual.load_kw))

)

select * from validation_errors
