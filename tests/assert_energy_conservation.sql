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

{#-
    Like the roll-up, one large aggregate whose input the planner cannot
    estimate (it hides behind ts_data_source_select): give it memory and a
    hash aggregate, in this test's transaction only.
-#}
{{ config(
    sql_header="set local work_mem = '" ~ var('heavy_work_mem') ~ "';"
    ~ " set local enable_sort = off;"
) }}

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

direct_sources as materialized (

    {#-
        Each data source at its feeding transformer, joined before the
        readings are read (else the planner joins millions of readings to
        the meter map on grid_id alone).
    -#}
    select
        data_sources.grid_id,
        data_sources.data_source_id,
        data_sources.source_type,
        data_sources.valid_during,
        direct_meters.transformer_id,
        checked_from.starting_at
    from {{ ref('stg_edm__data_sources') }} as data_sources
    inner join direct_meters
        on
            data_sources.grid_id = direct_meters.grid_id
            and data_sources.element_id = direct_meters.meter_id
    inner join checked_from
        on data_sources.grid_id = checked_from.grid_id
    where data_sources.source_type in ('CONSUMER', 'PRODUCER')

),

direct_load as (

    select
        data_sources.grid_id,
        data_sources.transformer_id,
        latest.interval_start,
        sum(
            case
                when data_sources.source_type = 'PRODUCER' then -latest.avg_kw
                else latest.avg_kw
            end
        ) as load_kw
    from direct_sources as data_sources
    cross join
        lateral
        {{ evcap_latest_readings(
            'data_sources.data_source_id',
            'kWh',
            'data_sources.starting_at',
            extra_columns=[avg_kw_column],
        ) }} as latest
    where latest.avg_kw is not null
    group by
        data_sources.grid_id,
        data_sources.transformer_id,
        latest.interval_start

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
