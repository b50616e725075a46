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
-#}

with

loads as (

    select
        grid_id,
        transformer_id,
        interval_start,
        {#- local time from the current var, like the calendar below -#}
        interval_start at time zone '{{ var("local_timezone") }}'
            as interval_local,
        period_s,
        load_kw,
        budgeted_headroom_kw,
        meter_coverage
    from {{ ref('fct_transformer_load') }}

),

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

    select
        grid_id,
        min(interval_start) as first_start,
        max(interval_start) as last_start,
        min(period_s) as period_s
    from loads
    group by grid_id

),

grid_intervals as (

    {#- The calendar: every interval of the grid's span, with data or not. #}
    select
        grid_spans.grid_id,
        expected.interval_start,
        expected.interval_start at time zone '{{ var("local_timezone") }}'
            as interval_local
    from grid_spans
    cross join lateral generate_series(
        grid_spans.first_start,
        grid_spans.last_start,
        make_interval(secs => grid_spans.period_s)
    ) as expected (interval_start)

),

intervals_per_window as (

    select
        grid_intervals.grid_id,
        windows.window_name,
        count(*) as intervals_in_window
    from grid_intervals
    inner join windows
        on {{
            evcap_window_contains('windows', 'grid_intervals.interval_local')
        }}
    group by grid_intervals.grid_id, windows.window_name

),

used as (

    select
        loads.grid_id,
        loads.transformer_id,
        windows.window_name,
        count(*) as intervals_used,
        max(loads.load_kw) as peak_load_kw,
        min(loads.budgeted_headroom_kw) as firm_headroom_kw,
        percentile_cont({{ var('headroom_quantile') }}) within group (
            order by loads.budgeted_headroom_kw
        ) as quantile_headroom_kw
    from loads
    inner join windows
        on {{ evcap_window_contains('windows', 'loads.interval_local') }}
    where loads.meter_coverage >= {{ var('min_meter_coverage') }}
    group by loads.grid_id, loads.transformer_id, windows.window_name

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
