{#-
    How many meters each transformer expects to report, as a step function
    of time: one row per stretch [valid_from, valid_to) with a constant
    count. A meter is expected while one of its CONSUMER sources is valid
    (valid_during; a replaced meter's old and new sources make one
    stretch; a bound's inclusivity is honoured to the microsecond). Usually
    one stretch per transformer, unbounded both ways.
-#}

with

meter_validity as (

    select
        grid_id,
        element_id as meter_id,
        range_agg(valid_during) as valid_during
    from {{ ref('stg_edm__data_sources') }}
    where source_type = 'CONSUMER'
    group by grid_id, element_id

),

changes as (

    select
        meter_map.grid_id,
        meter_map.transformer_id,
        {#- '(' bounds: expected from the next microsecond on -#}
        coalesce(
            lower(validity.valid_range)
            + case
                when lower_inc(validity.valid_range) then interval '0'
                else interval '1 microsecond'
            end,
            '-infinity'
        ) as changes_at,
        1 as meters_change
    from {{ ref('int_meters_mapped_to_transformers') }} as meter_map
    inner join meter_validity
        on
            meter_map.grid_id = meter_validity.grid_id
            and meter_map.meter_id = meter_validity.meter_id
    cross join
        lateral unnest(meter_validity.valid_during) as validity (valid_range)

    union all

    select
        meter_map.grid_id,
        meter_map.transformer_id,
        upper(validity.valid_range)
        + case
            when upper_inc(validity.valid_range) then interval '1 microsecond'
            else interval '0'
        end as changes_at,
        -1 as meters_change
    from {{ ref('int_meters_mapped_to_transformers') }} as meter_map
    inner join meter_validity
        on
            meter_map.grid_id = meter_validity.grid_id
            and meter_map.meter_id = meter_validity.meter_id
    cross join
        lateral unnest(meter_validity.valid_during) as validity (valid_range)
    where not upper_inf(validity.valid_range)

),

steps as (

    select
        grid_id,
        transformer_id,
        changes_at,
        sum(meters_change) as meters_change
    from changes
    group by grid_id, transformer_id, changes_at

),

stretches as (

    select
        grid_id,
        transformer_id,
        changes_at as valid_from,
        lead(changes_at, 1, 'infinity') over (
            partition by grid_id, transformer_id order by changes_at
        ) as valid_to,
        cast(
            sum(meters_change) over (
                partition by grid_id, transformer_id
                order by changes_at
                rows between unbounded preceding and current row
            ) as integer
        ) as meters_expected
    from steps

),

final as (

    select
        ancestry.transformer_key,
        stretches.grid_id,
        stretches.transformer_id,
        stretches.valid_from,
        stretches.valid_to,
        stretches.meters_expected
    from stretches
    inner join {{ ref('int_transformer_ancestors') }} as ancestry
        on
            stretches.grid_id = ancestry.grid_id
            and stretches.transformer_id = ancestry.transformer_id
            and ancestry.levels_up = 0
    where stretches.valid_from < stretches.valid_to

)

select * from final
