{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=[
            'grid_id', 'transformer_id', 'local_month', 'local_isodow',
            'local_hour',
        ],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': [
                'grid_id', 'transformer_id', 'local_month', 'local_isodow',
                'local_hour',
            ], 'unique': true},
            {'columns': ['built_at']},
            {'columns': ['grid_id', 'first_interval_start']},
            {'columns': ['grid_id', 'last_interval_start']},
            {'columns': ['grid_id', 'period_s']},
        ],
        meta={
            'evcap_distribution': {
                'column': 'transformer_id',
                'colocate_with': 'int_transformer_loads_rolled_up',
            },
        },
        pre_hook=[
            "{{ evcap_set_work_mem() }}",
            "{{ evcap_disable_jit() }}",
        ],
        post_hook=[
            "{% if not evcap_is_citus() %}{{ evcap_ensure_index(
                this, ['local_month', 'local_isodow', 'local_hour']
            ) }}{% endif %}",
        ],
    )
}}

{#-
    The load of every transformer summed up per calendar cell: local month x
    ISO weekday x local hour (12 x 7 x 24 = 2,016 cells per transformer, in
    its grid's time zone, int_grids_configured), over the intervals where at
    least var('min_meter_coverage') of its meters reported: how many, the
    sum, min and max of the load (kW) and every such load, sorted (for exact
    quantiles). The profile and window marts are built from these cells, so
    they never read the load history again: a cell answers any window (a
    set of months, weekdays and hours, seed charging_windows).

    Incremental, in proportion to what the latest roll-up rewrote (rows of
    int_transformer_loads_rolled_up with rebuilt_at after the newest one
    these cells were built from):
    - a transformer whose rows were rewritten from some interval on, with
      older rows still stored, gets the cells of the local days (month,
      weekday) from that interval on recomputed, each from all its stored
      rows on matching local dates (index ranges, a few days per year);
      but when none of a (month, weekday)'s stored cells holds an interval
      from there on (an appended day: a night's usual case), the rewritten
      rows are added to its stored cells instead (counts and sums added,
      extremes compared, sorted loads merged: exact), reading the new rows
      only, not the history's matching dates;
    - a transformer whose whole history was rewritten (new, re-keyed,
      meters changed), one no longer in the load table, and every
      transformer of a grid whose time zone or var('min_meter_coverage')
      differs from the one its cells were built with gets all its cells
      recomputed (those with rows now, and the stored ones).
    A stored cell a recomputation leaves without any load row is kept as a
    tombstone (no first_interval_start, no loads, intervals_used 0) with
    this run's built_at, so the models built from the cells find it among
    the cells written since they last ran (index on built_at) instead of
    comparing every cell. Tombstones are never rewritten (only a cell with
    rows again replaces one) and a full refresh drops them; at most one per
    cell that ever had rows.

    Indexes: the cell key, built_at, and (grid_id, first_interval_start),
    (grid_id, last_interval_start), (grid_id, period_s) for the window
    mart's span of each grid (an index probe, not a scan of every cell);
    and (local_month, local_isodow, local_hour), on one node, for the window
    model's test whether any used cell falls in a window it has no rows of
    (a post-hook, macros/evcap_ensure_index.sql: it also reaches a table an
    earlier release built).
-#}

{#- the load table's columns the cells are built from -#}
{%- set load_columns = [
    'grid_id', 'transformer_id', 'interval_start', 'period_s', 'load_kw',
    'meters_reporting', 'meters_expected', 'rebuilt_at',
] %}

{#-
    What the per-transformer probes read: on one node the stored table (an
    index probe each); on Citus the `loads` CTE, as a correlated subquery
    into a distributed table is not supported there.
-#}
{%- set probed_loads = (
    'loads' if evcap_is_citus()
    else ref('int_transformer_loads_rolled_up')
) %}

{#-
    Whether a night may add the rows of appended days to the stored cells
    (CTE day_groups): on one node; on Citus every touched group is
    recomputed
-#}
{%- set append_days = is_incremental() and not evcap_is_citus() %}

{%- set cells_key = [
    'grid_id', 'transformer_id', 'local_month', 'local_isodow', 'local_hour',
] %}

{#- this table, or before its first build a relation with its columns -#}
{%- set stored_table = this if is_incremental() else evcap_no_rows([
    ('grid_id', 'text'),
    ('transformer_id', 'text'),
    ('local_month', 'integer'),
    ('local_isodow', 'integer'),
    ('local_hour', 'integer'),
    ('local_timezone', 'text'),
    ('min_meter_coverage', 'float8'),
    ('first_interval_start', 'timestamptz'),
    ('last_interval_start', 'timestamptz'),
    ('loads_rebuilt_at', 'timestamptz'),
    ('built_at', 'timestamptz'),
]) %}

with

grids as (

    select
        grid_id,
        local_timezone
    from {{ ref('int_grids_configured') }}

),

loads as not materialized (

    {#-
        Stored load rows of the transformers the topology has now (rows of
        a removed one stay in the load table, hidden by fct_transformer_load's
        join with dim_transformers: their cells go).
    -#}
    select
        {%- for column in load_columns %}
            stored_loads.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ ref('int_transformer_loads_rolled_up') }} as stored_loads
    where exists (
            select 1 as found
            from {{ ref('int_transformers_nested') }} as topology
            where
                topology.grid_id = stored_loads.grid_id
                and topology.transformer_id = stored_loads.transformer_id
        )

),

stored as (

    {#-
        Per stored transformer: whether its grid's time zone or
        var('min_meter_coverage') differ from those its cells were built
        with, and whether it has a cell with loads. Every run rewrites all
        cells of a transformer whose settings changed, so its live cells
        share their settings and one of them tells.
    -#}
    {%- if is_incremental() and not evcap_is_citus() %}
        {#-
            One node: its transformers by a loose scan of the cells' unique
            index and one live cell each by an index probe (a few thousand
            probes, whatever the history's length).
        #}
        with recursive stored_transformers as (
            (
                select
                    cells.grid_id,
                    cells.transformer_id
                from {{ stored_table }} as cells
                order by cells.grid_id, cells.transformer_id
                limit 1
            )
            union all
            select
                next_cell.grid_id,
                next_cell.transformer_id
            from stored_transformers as previous
            cross join lateral (
                select
                    cells.grid_id,
                    cells.transformer_id
                from {{ stored_table }} as cells
                where
                    (cells.grid_id, cells.transformer_id)
                    > (previous.grid_id, previous.transformer_id)
                order by cells.grid_id, cells.transformer_id
                limit 1
            ) as next_cell
        )

        select
            stored_transformers.grid_id,
            stored_transformers.transformer_id,
            coalesce(
                live_cell.local_timezone is distinct from grids.local_timezone
                or live_cell.min_meter_coverage
                <> cast({{ var('min_meter_coverage') }} as float8),
                false
            ) as settings_changed,
            coalesce(live_cell.is_live, false) as has_live_cells
        from stored_transformers
        left join lateral (
            select
                true as is_live,
                cells.local_timezone,
                cells.min_meter_coverage
            from {{ stored_table }} as cells
            where
                cells.grid_id = stored_transformers.grid_id
                and cells.transformer_id = stored_transformers.transformer_id
                and cells.first_interval_start is not null
            limit 1
        ) as live_cell on true
        left join grids
            on stored_transformers.grid_id = grids.grid_id
    {%- else %}
        {#- first build (no cells) or Citus: one pass over the cells -#}
        select
            cells.grid_id,
            cells.transformer_id,
            coalesce(
                bool_or(
                    cells.local_timezone is distinct from grids.local_timezone
                    or cells.min_meter_coverage
                    <> cast({{ var('min_meter_coverage') }} as float8)
                ) filter (where cells.first_interval_start is not null),
                false
            ) as settings_changed,
            bool_or(cells.first_interval_start is not null) as has_live_cells
        from {{ stored_table }} as cells
        left join grids
            on cells.grid_id = grids.grid_id
        group by cells.grid_id, cells.transformer_id
    {%- endif %}

),

cells_watermark as (

    {#-
        The newest load stamp the cells were built from: every row a run
        writes carries that run's newest load rebuilt_at, so one row of the
        newest run has it (backwards along the index on built_at).
    -#}
    select max(newest_cell.loads_rebuilt_at) as loads_rebuilt_at
    from (
        select cells.loads_rebuilt_at
        from {{ stored_table }} as cells
        order by cells.built_at desc
        limit 1
    ) as newest_cell

),

cells_end as (

    {#-
        Per grid, the latest interval the stored cells hold (backwards
        along the index on (grid_id, last_interval_start)): the local days
        a night updates reach it, so rows that vanished after the latest
        one written (the latest day's readings withdrawn) leave their cells
        too
    -#}
    {%- if evcap_is_citus() %}
        {#- no correlated subquery into a distributed table: one pass -#}
        select
            cells.grid_id,
            max(cells.last_interval_start) as last_interval_start
        from {{ stored_table }} as cells
        group by cells.grid_id
    {%- else %}
        select
            grids.grid_id,
            (
                select max(cells.last_interval_start) as latest_start
                from {{ stored_table }} as cells
                where cells.grid_id = grids.grid_id
            ) as last_interval_start
        from grids
    {%- endif %}

),

grids_changed as (

    select distinct grid_id
    from stored
    where settings_changed

),

rewritten as (

    {#- rows the roll-up wrote since these cells were built (index range) -#}
    select
        loads.grid_id,
        loads.transformer_id,
        min(loads.interval_start) as rewritten_from,
        max(loads.interval_start) as rewritten_to,
        (
            {#-
                on one node the stored table itself, not `loads`: one index
                probe per transformer (the topology check inside would be a
                scan per transformer)
            -#}
            select min(earliest.interval_start) as earliest_start
            from {{ probed_loads }} as earliest
            where
                earliest.grid_id = loads.grid_id
                and earliest.transformer_id = loads.transformer_id
        ) as first_start
    from loads
    where
        loads.rebuilt_at > coalesce(
            (select cells_watermark.loads_rebuilt_at from cells_watermark),
            '-infinity'
        )
    group by loads.grid_id, loads.transformer_id

),

recomputed_whole as (

    {#- transformers whose every cell is recomputed -#}
    select
        rewritten.grid_id,
        rewritten.transformer_id
    from rewritten
    where rewritten.first_start >= rewritten.rewritten_from
    union
    select
        stored.grid_id,
        stored.transformer_id
    from stored
    {% if not evcap_is_citus() -%}
        -- the topology no longer has it, or the load table has no row of it
        left join {{ ref('int_transformers_nested') }} as topology
            on
                stored.grid_id = topology.grid_id
                and stored.transformer_id = topology.transformer_id
    {% endif -%}
    where
        -- one holding only tombstones has nothing left to empty
        stored.has_live_cells
        and (
            stored.settings_changed
            {% if not evcap_is_citus() -%}
                or topology.transformer_id is null
            {% endif -%}
            or not exists (
                select 1 as found
                from {{ probed_loads }} as any_load
                where
                    any_load.grid_id = stored.grid_id
                    and any_load.transformer_id = stored.transformer_id
            )
        )
    union
    select
        rewritten.grid_id,
        rewritten.transformer_id
    from rewritten
    inner join grids_changed
        on rewritten.grid_id = grids_changed.grid_id

),

rewritten_days as (

    {#-
        The rest: per transformer, the (local month, ISO weekday) of every
        local day from its first rewritten interval to its last one (or to
        the latest one its grid's cells hold, when later: cells_end).
    -#}
    select distinct
        rewritten.grid_id,
        rewritten.transformer_id,
        cast(
            extract(month from rewritten_days.local_day) as integer
        ) as local_month,
        cast(
            extract(isodow from rewritten_days.local_day) as integer
        ) as local_isodow,
        rewritten.rewritten_from
    from rewritten
    inner join grids
        on rewritten.grid_id = grids.grid_id
    left join cells_end
        on rewritten.grid_id = cells_end.grid_id
    cross join
        lateral generate_series(
            date_trunc(
                'day',
                rewritten.rewritten_from at time zone grids.local_timezone
            ),
            greatest(
                rewritten.rewritten_to, cells_end.last_interval_start
            ) at time zone grids.local_timezone,
            interval '1 day'
        ) as rewritten_days (local_day)
    where not exists (
            select 1 as found
            from recomputed_whole
            where
                recomputed_whole.grid_id = rewritten.grid_id
                and recomputed_whole.transformer_id = rewritten.transformer_id
        )

),

day_groups as materialized (

    {#-
        Each (transformer, local month, ISO weekday) to update, and how: a
        group whose stored cells hold no interval from the first rewritten
        one on (an appended day: the night's usual case) takes the
        rewritten rows added to its stored cells; the others are
        recomputed from every stored row on their local dates (a rewrite
        of rows the cells already hold: late or corrected readings). On
        Citus every group is recomputed.
    -#}
    select
        rewritten_days.grid_id,
        rewritten_days.transformer_id,
        rewritten_days.local_month,
        rewritten_days.local_isodow,
        rewritten_days.rewritten_from,
        {%- if append_days %}
            coalesce(
                stored_group.last_interval_start < rewritten_days.rewritten_from,
                true
            ) as is_appended
        {%- else %}
            false as is_appended
        {%- endif %}
    from rewritten_days
    {%- if append_days %}
        -- one range of the unique index per group (24 cells)
        left join lateral (
            select max(cells.last_interval_start) as last_interval_start
            from {{ this }} as cells
            where
                cells.grid_id = rewritten_days.grid_id
                and cells.transformer_id = rewritten_days.transformer_id
                and cells.local_month = rewritten_days.local_month
                and cells.local_isodow = rewritten_days.local_isodow
        ) as stored_group on true
    {%- endif %}

),

recomputed_days as (

    select
        grid_id,
        transformer_id,
        local_month,
        local_isodow
    from day_groups
    where not is_appended

),

recomputed_dates as materialized (

    {#-
        Every local date of the transformer's history on one of those
        (month, weekday), as a UTC range: the stored rows to re-read.
    -#}
    select
        recomputed.grid_id,
        recomputed.transformer_id,
        history_dates.local_date at time zone grids.local_timezone
            as utc_from,
        (history_dates.local_date + interval '1 day')
        at time zone grids.local_timezone as utc_to
    from recomputed_days as recomputed
    inner join grids
        on recomputed.grid_id = grids.grid_id
    inner join rewritten
        on
            recomputed.grid_id = rewritten.grid_id
            and recomputed.transformer_id = rewritten.transformer_id
    cross join
        lateral generate_series(
            date_trunc(
                'day', rewritten.first_start at time zone grids.local_timezone
            ),
            rewritten.rewritten_to at time zone grids.local_timezone,
            interval '1 day'
        ) as history_dates (local_date)
    where
        cast(extract(month from history_dates.local_date) as integer)
        = recomputed.local_month
        and cast(extract(isodow from history_dates.local_date) as integer)
        = recomputed.local_isodow

),

recomputed_rows as (

    select
        loads.*,
        grids.local_timezone,
        false as is_appended
    from recomputed_whole
    inner join loads
        on
            recomputed_whole.grid_id = loads.grid_id
            and recomputed_whole.transformer_id = loads.transformer_id
    inner join grids
        on loads.grid_id = grids.grid_id
    union all
    select
        loads.*,
        grids.local_timezone,
        false as is_appended
    from recomputed_dates
    inner join grids
        on recomputed_dates.grid_id = grids.grid_id
    {%- if evcap_is_citus() %}
        -- Citus plans the join on the shards (no LATERAL into them)
        inner join loads
            on
                recomputed_dates.grid_id = loads.grid_id
                and recomputed_dates.transformer_id = loads.transformer_id
                and loads.interval_start >= recomputed_dates.utc_from
                and loads.interval_start < recomputed_dates.utc_to
    {%- else %}
        {#-
            one index range per local date, whatever the row estimates, on
            the stored table (its transformers are in the topology already)
        #}
        cross join lateral (
            select
                {%- for column in load_columns %}
                    stored_loads.{{ column }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            from {{ ref('int_transformer_loads_rolled_up') }} as stored_loads
            where
                stored_loads.grid_id = recomputed_dates.grid_id
                and stored_loads.transformer_id
                = recomputed_dates.transformer_id
                and stored_loads.interval_start >= recomputed_dates.utc_from
                and stored_loads.interval_start < recomputed_dates.utc_to
        ) as loads
    {%- endif %}

    {%- if append_days %}
        union all
        {#-
            the rewritten rows of transformers with an appended group (one
            index range each, from the first rewritten interval on); only
            those on an appended group's local dates are kept (located)
        #}
        select
            loads.*,
            grids.local_timezone,
            true as is_appended
        from (
            select distinct
                grid_id,
                transformer_id,
                rewritten_from
            from day_groups
            where is_appended
        ) as appending
        inner join grids
            on appending.grid_id = grids.grid_id
        cross join lateral (
            select
                {%- for column in load_columns %}
                    stored_loads.{{ column }}{% if not loop.last %},{% endif %}
                {%- endfor %}
            from {{ ref('int_transformer_loads_rolled_up') }} as stored_loads
            where
                stored_loads.grid_id = appending.grid_id
                and stored_loads.transformer_id = appending.transformer_id
                and stored_loads.interval_start >= appending.rewritten_from
        ) as loads
    {%- endif %}

),

located as (

    select
        grid_id,
        transformer_id,
        cast(extract(month from interval_local) as integer) as local_month,
        cast(extract(isodow from interval_local) as integer) as local_isodow,
        cast(extract(hour from interval_local) as integer) as local_hour,
        interval_start,
        period_s,
        load_kw,
        coalesce(
            meters_reporting / cast(nullif(meters_expected, 0) as float8)
            >= {{ var('min_meter_coverage') }},
            false
        ) as is_used,
        is_appended
    from (
        select
            recomputed_rows.*,
            recomputed_rows.interval_start
            at time zone recomputed_rows.local_timezone as interval_local
        from recomputed_rows
    ) as rows_in_local_time

),

aggregated as (

    select
        grid_id,
        transformer_id,
        local_month,
        local_isodow,
        local_hour,
        min(interval_start) as first_interval_start,
        max(interval_start) as last_interval_start,
        min(period_s) as period_s,
        cast(count(*) filter (where is_used) as integer) as intervals_used,
        sum(load_kw) filter (where is_used) as load_sum_kw,
        min(load_kw) filter (where is_used) as min_load_kw,
        max(load_kw) filter (where is_used) as max_load_kw,
        array_agg(load_kw order by load_kw) filter (
            where is_used
        ) as loads_kw,
        -- a cell's group is appended or recomputed, never both
        is_appended
    from located
    {%- if append_days %}
        where
            not located.is_appended
            or exists (
                select 1 as found
                from day_groups
                where
                    day_groups.is_appended
                    and day_groups.grid_id = located.grid_id
                    and day_groups.transformer_id = located.transformer_id
                    and day_groups.local_month = located.local_month
                    and day_groups.local_isodow = located.local_isodow
            )
    {%- endif %}
    group by
        grid_id,
        transformer_id,
        local_month,
        local_isodow,
        local_hour,
        is_appended

),

updated as (

    {#-
        every cell written: recomputed ones as aggregated; appended ones as
        their stored version plus the appended rows (counts and sums added,
        extremes compared, the sorted loads merged), exact
    -#}
    select
        {%- for column in cells_key %}
            {{ column }},
        {%- endfor %}
        first_interval_start,
        last_interval_start,
        period_s,
        intervals_used,
        load_sum_kw,
        min_load_kw,
        max_load_kw,
        loads_kw
    from aggregated
    where not is_appended
    {%- if append_days %}
        union all
        select
            {%- for column in cells_key %}
                appended.{{ column }},
            {%- endfor %}
            least(
                stored_cell.first_interval_start, appended.first_interval_start
            ) as first_interval_start,
            greatest(
                stored_cell.last_interval_start, appended.last_interval_start
            ) as last_interval_start,
            least(stored_cell.period_s, appended.period_s) as period_s,
            coalesce(stored_cell.intervals_used, 0)
            + appended.intervals_used as intervals_used,
            {{ evcap_add_nullable(
                'stored_cell.load_sum_kw', 'appended.load_sum_kw'
            ) }} as load_sum_kw,
            least(stored_cell.min_load_kw, appended.min_load_kw) as min_load_kw,
            greatest(
                stored_cell.max_load_kw, appended.max_load_kw
            ) as max_load_kw,
            case
                when stored_cell.loads_kw is null then appended.loads_kw
                when appended.loads_kw is null then stored_cell.loads_kw
                else (
                    select array_agg(merged.load_kw order by merged.load_kw)
                    from unnest(stored_cell.loads_kw || appended.loads_kw)
                        as merged (load_kw)
                )
            end as loads_kw
        from aggregated as appended
        -- one probe of the unique index per appended cell
        left join lateral (
            select
                cells.first_interval_start,
                cells.last_interval_start,
                cells.period_s,
                cells.intervals_used,
                cells.load_sum_kw,
                cells.min_load_kw,
                cells.max_load_kw,
                cells.loads_kw
            from {{ this }} as cells
            where {{ evcap_keys_equal('cells', 'appended', cells_key) }}
            offset 0  -- noqa: AM09
        ) as stored_cell on true
        where appended.is_appended
    {%- endif %}

),

loads_rebuilt_at as (

    {#- the latest run's stamp: backwards along the rebuilt_at index -#}
    select max(any_load.rebuilt_at) as newest_rebuilt_at
    from {{ ref('int_transformer_loads_rolled_up') }} as any_load

),

emptied_cells as (

    {#-
        Stored cells a recomputation left without rows (incremental runs
        only: a first build has none): of a transformer recomputed whole,
        its cells; of a rewritten local day, its hours. Written as
        tombstones (null loads). The cells with rows come from `aggregated`
        alone: never all 2,016 cells of every transformer (a short history
        has few).
    -#}
    select
        candidates.grid_id,
        candidates.transformer_id,
        candidates.local_month,
        candidates.local_isodow,
        candidates.local_hour
    from (
        select
            {%- for column in cells_key %}
                cells.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from recomputed_whole
        inner join {{ stored_table }} as cells
            on
                recomputed_whole.grid_id = cells.grid_id
                and recomputed_whole.transformer_id = cells.transformer_id
        where cells.first_interval_start is not null
        -- (recomputed_days holds no transformer recomputed whole)
        union all
        select
            {%- for column in cells_key %}
                cells.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from recomputed_days
        inner join {{ stored_table }} as cells
            on
                recomputed_days.grid_id = cells.grid_id
                and recomputed_days.transformer_id = cells.transformer_id
                and recomputed_days.local_month = cells.local_month
                and recomputed_days.local_isodow = cells.local_isodow
        where cells.first_interval_start is not null
    ) as candidates
    -- those without rows now (an anti-join: no correlated subquery on Citus)
    left join aggregated
        on
            {{ evcap_keys_equal('candidates', 'aggregated', cells_key) }}
    where aggregated.grid_id is null

),

written as (

    select
        {%- for column in cells_key %}
            updated.{{ column }},
        {%- endfor %}
        grids.local_timezone,
        cast({{ var('min_meter_coverage') }} as float8) as min_meter_coverage,
        updated.first_interval_start,
        updated.last_interval_start,
        updated.period_s,
        updated.intervals_used,
        updated.load_sum_kw,
        updated.min_load_kw,
        updated.max_load_kw,
        updated.loads_kw,
        loads_rebuilt_at.newest_rebuilt_at as loads_rebuilt_at,
        {{ evcap_run_started_at() }} as built_at
    from updated
    inner join grids
        on updated.grid_id = grids.grid_id
    cross join loads_rebuilt_at
    union all
    select
        {%- for column in cells_key %}
            emptied_cells.{{ column }},
        {%- endfor %}
        grids.local_timezone,
        cast({{ var('min_meter_coverage') }} as float8) as min_meter_coverage,
        cast(null as timestamptz) as first_interval_start,
        cast(null as timestamptz) as last_interval_start,
        cast(null as integer) as period_s,
        0 as intervals_used,
        cast(null as float8) as load_sum_kw,
        cast(null as float8) as min_load_kw,
        cast(null as float8) as max_load_kw,
        cast(null as float8 []) as loads_kw,
        loads_rebuilt_at.newest_rebuilt_at as loads_rebuilt_at,
        {{ evcap_run_started_at() }} as built_at
    from emptied_cells
    inner join grids
        on emptied_cells.grid_id = grids.grid_id
    cross join loads_rebuilt_at

),

final as (

    {#-
        each written cell with the version it replaced (what the models
        downstream last saw of it): its loads and built_at; none for a new
        cell; on a full build an unknown one (previous_built_at = built_at),
        so the window model recomputes in full
    -#}
    select
        written.*,
        {%- if is_incremental() %}
            replaced.loads_kw as previous_loads_kw,
            replaced.built_at as previous_built_at
        {%- else %}
            cast(null as float8 []) as previous_loads_kw,
            {{ evcap_run_started_at() }} as previous_built_at
        {%- endif %}
    from written
    {%- if is_incremental() and evcap_is_citus() %}
        left join {{ this }} as replaced
            on {{ evcap_keys_equal('written', 'replaced', cells_key) }}
    {%- elif is_incremental() %}
        -- one probe of the unique index per written cell
        left join lateral (
            select
                stored_cell.loads_kw,
                stored_cell.built_at
            from {{ this }} as stored_cell
            where {{ evcap_keys_equal('stored_cell', 'written', cells_key) }}
            -- keeps the probe a probe (not a hash join of every cell)
            offset 0  -- noqa: AM09
        ) as replaced on true
    {%- endif %}

)

select * from final
