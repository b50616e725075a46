{{
    config(
        materialized='view',
    )
}}

{#-
    Load, capacity and headroom of every transformer in every interval: the
    partitioned load table int_transformer_loads_rolled_up joined with
    dim_transformers (capacity, capacity budget) and int_grids_configured
    (the grid's time zone). A change of rating, override, budget, power
    factor or time zone rewrites no stored row. Transformers no longer in
    the topology drop out with the join.
-#}

with

loads as (

    select * from {{ ref('int_transformer_loads_rolled_up') }}

),

transformers as (

    select * from {{ ref('dim_transformers') }}

),

grids as (

    select * from {{ ref('int_grids_configured') }}

),

final as (

    select
        loads.grid_id,
        loads.transformer_id,
        loads.interval_start,
        loads.interval_start at time zone grids.local_timezone
            as interval_local,
        loads.period_s,
        loads.load_kw,
        loads.consumer_kw,
        loads.producer_kw,
        loads.meters_reporting,
        loads.meters_expected,
        loads.meters_reporting
        / cast(nullif(loads.meters_expected, 0) as float8) as meter_coverage,
        transformers.capacity_kw,
        transformers.capacity_kw - loads.load_kw as headroom_kw,
        (transformers.capacity_kw - loads.load_kw)
        * transformers.capacity_budget as budgeted_headroom_kw,
        loads.rebuilt_at
    from loads
    inner join transformers
        on
            loads.grid_id = transformers.grid_id
            and loads.transformer_id = transformers.transformer_id
    inner join grids
        on loads.grid_id = grids.grid_id

)

select * from final
