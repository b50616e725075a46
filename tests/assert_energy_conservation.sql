{#-
    Energy conservation: in every interval, a transformer's load equals the
    loads of its child transformers plus the net load of the meters it feeds
    directly (recomputed here from the readings, each spread evenly over the
    grid's intervals it overlaps: int_grids_configured.interval_s).
    Transformers on a loop of parent transformers are left out (the loop is
    cut, so they cannot balance); those below such a loop are checked.

    Checked on the slice the latest run rewrote (macros/
    evcap_latest_run_slice.sql): per grid, every interval from the first one
    that run wrote, from readings of those intervals (and a day before, for
    readings longer than the grid's interval), read from that bound on
    (macro evcap_checked_meter_readings). After a full refresh that is
    everything. Loads come from the stored table
    int_transformer_loads_rolled_up (fct_transformer_load is a view of it),
    whose index on rebuilt_at finds the slice.

    It depends on fct_transformer_load too (the line below), so `dbt build`
    runs it beside the models built from the loads (calendar cells, profile,
    windows, charger fit) instead of holding them back: dbt makes a model
    wait for a test only when the model descends from every node the test
    depends on, and none descends from the fact view. In a full build this
    test reads every reading again (a third of the build) while one core
    idled. A failure still fails the build; the marts are then built from
    the loads the fact view already shows.
-#}
-- depends_on: {{ ref('fct_transformer_load') }}

{#-
    The readings' row count is unknown to the planner (the EDM function), so
    it would sort all of them on disk to group them; a hash aggregate over
    them, in the heavy models' memory (var heavy_work_mem), is about twice as
    fast. Taking them for a few thousand rows, PostgreSQL 15 also joined
    their per-transformer sums to the transformers by a nested loop: every
    sum against every transformer (20,000 meters x 58 days, 32 M readings:
    still running after 25 minutes; 129 s without nested loops). The
    readings are still read by one call per data source (a function scan
    has no other join). On PostgreSQL 18 it made no difference (48.6 s and
    46.9 s on the bench year).
-#}
{{ config(
    sql_header=(
        evcap_set_work_mem()
        ~ ";\nset local enable_sort = off;\nset local enable_nestloop = off;"
    ),
) }}

with

checked_from as (

    {#- per grid: the first interval the latest run wrote (its stamp:
        macro evcap_latest_rebuilt_at; the index on rebuilt_at finds it) -#}
    select
        loads.grid_id,
        min(loads.interval_start) as starting_at
    from {{ ref('int_transformer_loads_rolled_up') }} as loads
    where
        loads.rebuilt_at
        = {{ evcap_latest_rebuilt_at(ref('int_transformer_loads_rolled_up')) }}
    group by loads.grid_id

),

loads as (

    select
        loads.grid_id,
        loads.transformer_id,
        loads.interval_start,
        loads.load_kw
    from {{ ref('int_transformer_loads_rolled_up') }} as loads
    inner join checked_from
        on
            loads.grid_id = checked_from.grid_id
            and loads.interval_start >= checked_from.starting_at
    -- the grids' earliest start as a literal: the partitions and index
    -- range on interval_start of the slice, not the latest month's whole
    where
        loads.interval_start
        >= {{ evcap_latest_run_start(ref('int_transformer_loads_rolled_up')) }}

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

grids as (

    select
        grid_id,
        interval_s,
        make_interval(secs => interval_s) as interval_length
    from {{ ref('int_grids_configured') }}

),

{#
    The valid readings of the meters each transformer feeds directly, summed
    per transformer, reading start and reading length (producers negative),
    before they are spread over the grid's intervals: spreading is linear,
    so spreading the sums equals summing the spread readings, and the
    spread then handles a few rows per transformer and interval instead of
    every reading (one hash aggregate over the readings).
#}
reading_sums as (

    select
        stg.grid_id,
        direct_meters.transformer_id,
        stg.interval_start,
        stg.period_s,
        sum(
            case
                when stg.source_type = 'PRODUCER' then -stg.avg_kw
                else stg.avg_kw
            end
        ) as avg_kw
    {#-
        The slice's first interval (every grid's earliest: checked_from's
        least) as a literal, so the EDM function is inlined and its readings
        read from there on (an index range each). As a subquery it was not:
        every data source's whole history was read and filtered (PostgreSQL
        15, 20,000 meters x 58 days: 21 s of a 26 s test on a night of one
        new day)
    #}
    from {{ evcap_checked_meter_readings(
        starting_at=(
            'coalesce(cast('
            ~ evcap_latest_run_start(ref('int_transformer_loads_rolled_up'))
            ~ " as timestamptz) - interval '1 day', 'infinity')"
        )
    ) }} as stg
    inner join direct_meters
        on
            stg.grid_id = direct_meters.grid_id
            and stg.meter_id = direct_meters.meter_id
    inner join checked_from
        on stg.grid_id = checked_from.grid_id
    where
        not stg.is_rejected
        -- read from a day earlier: keep those reaching the slice
        and stg.interval_start + make_interval(secs => stg.period_s)
        > checked_from.starting_at
    group by
        stg.grid_id,
        direct_meters.transformer_id,
        stg.interval_start,
        stg.period_s

),

spread_sums as (

    {#- each sum's share of every grid interval it covers, in kW -#}
    select
        spread.grid_id,
        spread.transformer_id,
        spread.first_slot + spread.slot * spread.interval_length
            as interval_start,
        spread.avg_kw
        * (
            least(
                spread.offset_s + spread.period_s,
                (spread.slot + 1) * spread.interval_s
            )
            - greatest(spread.offset_s, spread.slot * spread.interval_s)
        )
        / spread.interval_s as load_kw
    from (
        select
            placed.*,
            generate_series(
                0,
                cast(
                    ceil(
                        (placed.offset_s + placed.period_s) / placed.interval_s
                    ) as integer
                ) - 1
            ) as slot
        from (
            select
                reading_sums.*,
                grids.interval_s,
                grids.interval_length,
                date_bin(
                    grids.interval_length,
                    reading_sums.interval_start,
                    timestamptz '2000-01-01'
                ) as first_slot,
                cast(
                    extract(
                        epoch from reading_sums.interval_start
                        - date_bin(
                            grids.interval_length,
                            reading_sums.interval_start,
                            timestamptz '2000-01-01'
                        )
                    ) as float8
                ) as offset_s
            from reading_sums
            inner join grids
                on reading_sums.grid_id = grids.grid_id
        ) as placed
    ) as spread

),

direct_load as (

    select
        spread_sums.grid_id,
        spread_sums.transformer_id,
        spread_sums.interval_start,
        sum(spread_sums.load_kw) as load_kw
    from spread_sums
    inner join checked_from
        on
            spread_sums.grid_id = checked_from.grid_id
            and spread_sums.interval_start >= checked_from.starting_at
    group by
        spread_sums.grid_id,
        spread_sums.transformer_id,
        spread_sums.interval_start

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

    {#- a transformer below a loop balances; the loop's members do not -#}
    select
        parts.grid_id,
        parts.transformer_id,
        parts.interval_start,
        sum(parts.load_kw) as load_kw
    from parts
    inner join transformers
        on
            parts.grid_id = transformers.grid_id
            and parts.transformer_id = transformers.transformer_id
    group by parts.grid_id, parts.transformer_id, parts.interval_start

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
