{{
    config(
        materialized='view',
    )
}}

{#-
    The 12 x 24 (576-hour) profile: load and headroom statistics per local
    month and local hour (the grid's time zone), over intervals where at
    least var('min_meter_coverage') of the transformer's meters reported.
    The load statistics are int_transformer_profile_loads' (kept up to date
    incrementally from the calendar cells); headroom is capacity
    (dim_transformers) minus load, so its statistics mirror the load's: min
    headroom = capacity - max load, p05 headroom = capacity - p95 load
    (continuous percentiles are symmetric), and so on. A view: the load
    statistics are stored once, incrementally, and a night writes none of
    the 288 rows per transformer again (the grid x calendar: 46 M rows at a
    million meters); a rating change rewrites nothing. One row per
    transformer, month and hour: int_transformer_profile_loads' unique index
    joined on dim_transformers' unique key, so the data tests run there.
-#}

with

loads as (

    select * from {{ ref('int_transformer_profile_loads') }}

),

transformers as (

    select
        grid_id,
        transformer_id,
        capacity_kw
    from {{ ref('dim_transformers') }}

),

final as (

    select
        loads.grid_id,
        loads.transformer_id,
        loads.local_month,
        loads.local_hour,
        loads.intervals,
        transformers.capacity_kw,
        loads.min_load_kw,
        loads.p05_load_kw,
        loads.p50_load_kw,
        loads.mean_load_kw,
        loads.max_load_kw,
        transformers.capacity_kw - loads.max_load_kw as min_headroom_kw,
        transformers.capacity_kw - loads.p95_load_kw as p05_headroom_kw,
        transformers.capacity_kw - loads.p50_load_kw as p50_headroom_kw,
        transformers.capacity_kw - loads.mean_load_kw as mean_headroom_kw,
        transformers.capacity_kw - loads.min_load_kw as max_headroom_kw
    from loads
    inner join transformers
        on
            loads.grid_id = transformers.grid_id
            and loads.transformer_id = transformers.transformer_id

)

select * from final
