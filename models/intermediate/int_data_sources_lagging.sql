{{
    config(
        indexes=[
            {'columns': ['data_source_id'], 'unique': true},
        ],
    )
}}

{#-
    Late feeders: every data source, valid at its grid's latest reading,
    whose readings end before that grid's latest reading ends, with the lag
    in hours (null: never reported). Ends, not starts, so an hourly meter
    beside 15-minute ones is not late. A source listed here still has its
    readings read when they arrive: an incremental roll-up re-reads it from
    where it stood at the previous run (int_transformer_loads_rolled_up).
-#}

with

latest as (

    select
        latest.grid_id,
        latest.meter_id,
        latest.data_source_id,
        latest.source_type,
        latest.latest_interval_start,
        latest.latest_interval_start
        + make_interval(secs => latest.latest_period_s) as latest_reading_end,
        data_sources.valid_during
    from {{ ref('int_data_source_latest_readings') }} as latest
    inner join {{ ref('stg_edm__data_sources') }} as data_sources
        on latest.data_source_id = data_sources.data_source_id

),

grid_latest as (

    select
        grid_id,
        max(latest_reading_end) as grid_latest_reading_end
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
        latest.latest_reading_end,
        grid_latest.grid_latest_reading_end,
        cast(
            extract(
                epoch from grid_latest.grid_latest_reading_end
                - latest.latest_reading_end
            ) / 3600.0 as float8
        ) as lag_hours
    from latest
    inner join grid_latest
        on latest.grid_id = grid_latest.grid_id
    where
        latest.valid_during
        @> grid_latest.grid_latest_reading_end - interval '1 microsecond'
        and (
            latest.latest_reading_end is null
            or latest.latest_reading_end < grid_latest.grid_latest_reading_end
        )

)

select * from final
