{{ config(pre_hook="{{ evcap_set_work_mem() }}") }}

{#-
    The 12 x 24 (576-hour) profile: load and headroom statistics per local
    month and local hour, over intervals where at least
    var('min_meter_coverage') of the transformer's meters reported.
-#}

with

loads as (

    select
        grid_id,
        transformer_id,
        {#- local time from the current var (as the window mart does) -#}
        cast(
            extract(
                month from interval_start
                at time zone '{{ var("local_timezone") }}'
            ) as integer
        ) as local_month,
        cast(
            extract(
                hour from interval_start
                at time zone '{{ var("local_timezone") }}'
            ) as integer
        ) as local_hour,
        capacity_kw,
        load_kw,
        headroom_kw
    from {{ ref('fct_transformer_load') }}
    where meter_coverage >= {{ var('min_meter_coverage') }}

),

profile as (

    select
        grid_id,
        transformer_id,
        local_month,
        local_hour,
        cast(count(*) as integer) as intervals,
        max(capacity_kw) as capacity_kw,
        min(load_kw) as min_load_kw,
        percentile_cont(0.05) within group (order by load_kw) as p05_load_kw,
        percentile_cont(0.5) within group (order by load_kw) as p50_load_kw,
        avg(load_kw) as mean_load_kw,
        max(load_kw) as max_load_kw,
        min(headroom_kw) as min_headroom_kw,
        percentile_cont(0.05) within group (
            order by headroom_kw
        ) as p05_headroom_kw,
        percentile_cont(0.5) within group (
            order by headroom_kw
        ) as p50_headroom_kw,
        avg(headroom_kw) as mean_headroom_kw,
        max(headroom_kw) as max_headroom_kw
    from loads
    group by grid_id, transformer_id, local_month, local_hour

)

select * from profile
