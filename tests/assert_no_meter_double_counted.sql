{#-
    No meter is counted twice and none skips a level: a mapped meter's
    transformers are levels 1..n without gaps, level k+1 is the parent of
    level k, and each top transformer's meters_total equals the number of
    distinct meters mapped to it.
-#}

with

meter_map as (

    {#- unplaced meters (level null) only count as expected: not checked -#}
    select * from {{ ref('int_meters_mapped_to_transformers') }}
    where is_placed

),

transformers as (

    select * from {{ ref('dim_transformers') }}

),

per_meter as (

    select
        grid_id,
        meter_id,
        count(*) as mapped_rows,
        count(distinct transformer_id) as distinct_transformers,
        max(level) as max_level
    from meter_map
    group by grid_id, meter_id

),

bad_meters as (

    select
        grid_id,
        meter_id,
        'duplicate or gap in levels' as problem
    from per_meter
    where
        mapped_rows <> distinct_transformers
        or mapped_rows <> max_level

),

broken_chains as (

    select
        lower_level.grid_id,
        lower_level.meter_id,
        'level k+1 is not the parent of level k' as problem
    from meter_map as lower_level
    inner join meter_map as upper_level
        on
            lower_level.grid_id = upper_level.grid_id
            and lower_level.meter_id = upper_level.meter_id
            and upper_level.level = lower_level.level + 1
    inner join transformers
        on
            lower_level.grid_id = transformers.grid_id
            and lower_level.transformer_id = transformers.transformer_id
    where
        transformers.upstream_transformer_id is distinct from
        upper_level.transformer_id

),

distinct_meters as (

    select
        grid_id,
        transformer_id,
        count(distinct meter_id) as meters
    from meter_map
    group by grid_id, transformer_id

),

miscounted as (

    select
        transformers.grid_id,
        transformers.transformer_id as meter_id,
        'meters_total differs from distinct mapped meters' as problem
    from transformers
    left join distinct_meters as counted
        on
            transformers.grid_id = counted.grid_id
            and transformers.transformer_id = counted.transformer_id
    where transformers.meters_total <> coalesce(counted.meters, 0)

),

validation_errors as (

    select * from bad_meters
    union all
    select * from broken_chains
    union all
    select * from miscounted

)

select * from validation_errors
