{{
    config(
        pre_hook=[
            "{{ evcap_set_work_mem() }}",
            "{{ evcap_disable_jit() }}",
        ],
    )
}}

{#-
    The 12 x 24 (576-hour) profile: load and headroom statistics per local
    month and local hour (the grid's time zone), over intervals where at
    least var('min_meter_coverage') of the transformer's meters reported.
    Built from the loads of the 7 weekday cells of each month-hour in
    int_transformer_load_cells, collected and sorted once per month-hour
    (count, min, max, sum and exact percentiles in the same pass:
    macros/evcap_percentile_cont_sorted.sql, PostgreSQL's own arithmetic),
    never from the load history. Headroom is
    capacity (dim_transformers) minus load, so its statistics mirror the
    load's: min headroom = capacity - max load, p05 headroom = capacity -
    p95 load (continuous percentiles are symmetric), and so on.
-#}

with

cells as (

    select * from {{ ref('int_transformer_load_cells') }}
    where intervals_used > 0

),

transformers as (

    select
        grid_id,
        transformer_id,
        capacity_kw
    from {{ ref('dim_transformers') }}

),

loads as (

    {#-
        every used load of the month-hour, sorted, from its 7 weekday
        cells, with its count, min, max and sum
    -#}
    select
        grid_id,
        transformer_id,
        local_month,
        local_hour,
        cast(value_count as integer) as intervals,
        min_value_kw as min_load_kw,
        value_sum_kw / value_count as mean_load_kw,
        max_value_kw as max_load_kw,
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', 0.05) }}
            as p05_load_kw,
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', 0.5) }}
            as p50_load_kw,
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', 0.95) }}
            as p95_load_kw
    from {{ evcap_sorted_per_group(
        'cells',
        ['grid_id', 'transformer_id', 'local_month', 'local_hour'],
        'loads_kw',
    ) }} as sorted

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
