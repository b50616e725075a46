{{
    config(
        pre_hook=[
            "{{ evcap_set_work_mem() }}",
            "{{ evcap_disable_jit() }}",
        ],
    )
}}

{#-
    Firm headroom of every transformer in every charging window (seed
    charging_windows): the minimum budgeted headroom over the window's
    intervals, and var('headroom_quantile') of it for planners who accept rare
    exceedance. Intervals where fewer than var('min_meter_coverage') of the
    transformer's meters reported (or none did) are left out and counted.

    A window's intervals come from the calendar: every interval of the grid
    (its shortest period) between its first and last interval with data, so
    an outage of the whole grid counts against coverage. The firm headroom is
    trusted (data_sufficient) only when the share of those intervals with
    sufficient meter coverage reaches var('min_window_data_share').

    The window's loads (count, peak and quantile load, exact) are
    int_transformer_window_loads' (kept up to date incrementally from the
    calendar cells of int_transformer_load_cells): firm headroom = (capacity
    - peak load) x capacity_budget, and the quantile of budgeted headroom =
    (capacity - the (1 - q) continuous percentile of the loads) x
    capacity_budget (continuous percentiles are symmetric). Rebuilt whole
    at every run from those (a row per transformer and window: the grid's
    size), so a rating or budget change needs no re-sort of the loads.
-#}

with

transformers as (

    select
        grid_id,
        transformer_id,
        capacity_kw,
        capacity_budget
    from {{ ref('dim_transformers') }}

),

windows as (

    select * from {{ ref('charging_windows') }}

),

grid_spans as (

    {#-
        Per grid: the first and last interval and the shortest period of
        its transformers' calendar cells (tombstones, with no interval, left
        out). On one node three index probes per grid (indexes of
        int_transformer_load_cells): the first cell in each order whose
        transformer is in dim_transformers, not a scan of every cell (the
        grid x 2,016 cells, each night). On Citus, whose shards a correlated
        subquery cannot probe, one aggregate over the cells.
    -#}
    {%- if evcap_is_citus() %}
        select
            cells.grid_id,
            min(cells.first_interval_start) as first_start,
            max(cells.last_interval_start) as last_start,
            min(cells.period_s) as period_s
        from {{ ref('int_transformer_load_cells') }} as cells
        inner join transformers
            on
                cells.grid_id = transformers.grid_id
                and cells.transformer_id = transformers.transformer_id
        group by cells.grid_id
    {%- else %}
        select
            grids.grid_id,
            first_cell.first_start,
            last_cell.last_start,
            shortest_cell.shortest_period_s as period_s
        from {{ ref('int_grids_configured') }} as grids
        cross join {{ evcap_first_live_cell(
            'first_interval_start', 'asc', 'first_start',
            'grids.grid_id', 'transformers',
        ) }} as first_cell
        cross join {{ evcap_first_live_cell(
            'last_interval_start', 'desc', 'last_start',
            'grids.grid_id', 'transformers',
        ) }} as last_cell
        cross join {{ evcap_first_live_cell(
            'period_s', 'asc', 'shortest_period_s',
            'grids.grid_id', 'transformers',
        ) }} as shortest_cell
    {%- endif %}

),

grid_intervals as (

    {#- The calendar: every interval of the grid's span, with data or not. #}
    select
        grid_spans.grid_id,
        expected.interval_start,
        expected.interval_start at time zone grids.local_timezone
            as interval_local
    from grid_spans
    inner join {{ ref('int_grids_configured') }} as grids
        on grid_spans.grid_id = grids.grid_id
    cross join lateral generate_series(
        grid_spans.first_start,
        grid_spans.last_start,
        make_interval(secs => grid_spans.period_s)
    ) as expected (interval_start)

),

calendar_cells as (

    {#- The calendar's intervals per cell (local month, weekday, hour). #}
    select
        grid_id,
        cast(extract(month from interval_local) as integer) as local_month,
        cast(extract(isodow from interval_local) as integer) as local_isodow,
        cast(extract(hour from interval_local) as integer) as local_hour,
        count(*) as intervals
    from grid_intervals
    group by grid_id, local_month, local_isodow, local_hour

),

intervals_per_window as (

    {#-
        A window's calendar intervals: those of its cells
        (int_charging_window_cells), each interval tested once rather than
        against every window.
    -#}
    select
        calendar_cells.grid_id,
        window_cells.window_name,
        sum(calendar_cells.intervals) as intervals_in_window
    from calendar_cells
    inner join {{ ref('int_charging_window_cells') }} as window_cells
        on
            calendar_cells.local_month = window_cells.local_month
            and calendar_cells.local_isodow = window_cells.local_isodow
            and calendar_cells.local_hour = window_cells.local_hour
    group by calendar_cells.grid_id, window_cells.window_name

),

peaks as (

    select
        grid_id,
        transformer_id,
        window_name,
        intervals_used,
        peak_load_kw,
        load_kw_at_headroom_quantile
    from {{ ref('int_transformer_window_loads') }}

),

used as (

    select
        peaks.grid_id,
        peaks.transformer_id,
        peaks.window_name,
        peaks.intervals_used,
        peaks.peak_load_kw,
        (transformers.capacity_kw - peaks.peak_load_kw)
        * transformers.capacity_budget as firm_headroom_kw,
        (transformers.capacity_kw - peaks.load_kw_at_headroom_quantile)
        * transformers.capacity_budget as quantile_headroom_kw
    from peaks
    inner join transformers
        on
            peaks.grid_id = transformers.grid_id
            and peaks.transformer_id = transformers.transformer_id

),

final as (

    select
        transformers.grid_id,
        transformers.transformer_id,
        windows.window_name,
        transformers.capacity_kw,
        transformers.capacity_budget,
        cast(
            coalesce(intervals_per_window.intervals_in_window, 0) as integer
        ) as intervals_in_window,
        cast(coalesce(used.intervals_used, 0) as integer) as intervals_used,
        cast(
            coalesce(intervals_per_window.intervals_in_window, 0)
            - coalesce(used.intervals_used, 0) as integer
        ) as intervals_low_coverage,
        coalesce(used.intervals_used, 0)
        / cast(
            nullif(intervals_per_window.intervals_in_window, 0) as float8
        ) as coverage,
        used.peak_load_kw,
        used.firm_headroom_kw,
        cast({{ var('headroom_quantile') }} as float8) as headroom_quantile,
        used.quantile_headroom_kw,
        coalesce(
            coalesce(used.intervals_used, 0)
            >= {{ var('min_window_data_share') }}
            * intervals_per_window.intervals_in_window,
            false
        ) and coalesce(used.intervals_used, 0) > 0 as data_sufficient
    from transformers
    cross join windows
    left join intervals_per_window
        on
            transformers.grid_id = intervals_per_window.grid_id
            and windows.window_name = intervals_per_window.window_name
    left join used
        on
            transformers.grid_id = used.grid_id
            and transformers.transformer_id = used.transformer_id
            and windows.window_name = used.window_name

)

select * from final
