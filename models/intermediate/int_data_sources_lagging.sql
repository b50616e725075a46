{#-
    Late feeders: every data source whose latest reading lags the latest
    reading of its grid, with the lag in hours (null: never reported). A source listed here still has its
    readings read when they arrive: an incremental roll-up re-reads it from
    where it stood at the previous run (int_transformer_loads_rolled_up).
-#}

with

latest as (

    select * from {{ ref('int_data_source_latest_readings') }}

),

grid_latest as (

    select
        grid_id,
        max(latest_interval_start) as grid_latest_interval_start
    from latest
    group by grid_id

),

final as (

    select
        latest.grid_id,
        latest.meter_id,
        latest.data_source_id,
        latest.source_type,
        latest.latest_interval_start,
        grid_latest.grid_latest_interval_start,
        cast(
            extract(
                epoch from grid_latest.grid_latest_interval_start
                - latest.latest_interval_start
            ) / 3600.0 as float8
        ) as lag_hours
    from latest
    inner join grid_latest
        on latest.grid_id = grid_latest.grid_id
    where
        latest.latest_interval_start is null
        or latest.latest_interval_start
        < grid_latest.grid_latest_interval_start

)

select * from final
