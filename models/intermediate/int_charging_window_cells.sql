{{
    config(
        indexes=[
            {'columns': ['window_name', 'local_month', 'local_isodow', 'local_hour'], 'unique': true},
        ],
    )
}}

{#-
    Every calendar cell (local month, ISO weekday, local hour) of every
    charging window (seed charging_windows; ranges wrap, so hours 22-4 is
    the night): at most 2,016 rows per window. Lets the window models join
    the load cells on the cell (a hash join) instead of testing every cell
    against every window, and records each window's definition as one text
    (months/weekdays/hours, e.g. 1-12/1-7/22-4) so a changed window is seen.
-#}

with

windows as (

    select * from {{ ref('charging_windows') }}

),

final as (

    select
        windows.window_name,
        concat_ws(
            '/',
            windows.month_start || '-' || windows.month_end,
            windows.isodow_start || '-' || windows.isodow_end,
            windows.hour_start || '-' || windows.hour_end
        ) as window_definition,
        months.local_month,
        weekdays.local_isodow,
        hours.local_hour
    from windows
    cross join generate_series(1, 12) as months (local_month)
    cross join generate_series(1, 7) as weekdays (local_isodow)
    cross join generate_series(0, 23) as hours (local_hour)
    where {{ evcap_window_contains_cell(
        'windows',
        'months.local_month',
        'hours.local_hour',
        'weekdays.local_isodow',
    ) }}

)

select * from final
