{{
    config(
        indexes=[
            {'columns': ['data_source_id'], 'unique': true},
        ],
    )
}}

{#-
    Every CONSUMER / PRODUCER data source of a meter that reaches a
    transformer, at the transformer feeding that meter (integer
    feeding_key, from int_transformer_ancestors): the small table the
    roll-up's one pass over the readings joins against. It also carries
    what the reading rules and the alignment need per source: valid range,
    service limit (max_service_kw), the grid's interval (interval_s), and
    the meter's consumer channels (a meter with several consumer sources:
    one per phase, import registers, a replacement meter's new source).
-#}

with

data_sources as (

    select
        data_source_id,
        grid_id,
        element_id as meter_id,
        source_type = 'CONSUMER' as is_consumer,
        valid_during,
        max_service_kw
    from {{ ref('stg_edm__data_sources') }}
    where source_type in ('CONSUMER', 'PRODUCER')

),

feeding as (

    select
        meter_map.grid_id,
        meter_map.meter_id,
        ancestry.transformer_id as feeding_transformer_id,
        ancestry.transformer_key as feeding_key
    from {{ ref('int_meters_mapped_to_transformers') }} as meter_map
    inner join {{ ref('int_transformer_ancestors') }} as ancestry
        on
            meter_map.grid_id = ancestry.grid_id
            and meter_map.transformer_id = ancestry.transformer_id
            and ancestry.levels_up = 0
    where meter_map.level = 1

),

channels as (

    select
        grid_id,
        meter_id,
        cast(count(*) filter (where is_consumer) as integer)
            as consumer_channels,
        coalesce(
            array_agg(valid_during order by data_source_id) filter (
                where is_consumer
            ),
            cast('{}' as tstzrange [])
        ) as consumer_valid_ranges
    from data_sources
    group by grid_id, meter_id

),

grids as (

    select
        grid_id,
        interval_s,
        longest_period_s
    from {{ ref('int_grids_configured') }}

),

final as (

    select
        data_sources.data_source_id,
        data_sources.grid_id,
        data_sources.meter_id,
        cast(
            dense_rank() over (
                order by data_sources.grid_id, data_sources.meter_id
            ) as integer
        ) as meter_key,
        feeding.feeding_transformer_id,
        feeding.feeding_key,
        data_sources.is_consumer,
        data_sources.valid_during,
        data_sources.max_service_kw,
        coalesce(grids.interval_s, 3600) as interval_s,
        make_interval(secs => coalesce(grids.interval_s, 3600))
            as interval_length,
        coalesce(grids.longest_period_s, 3600) as longest_period_s,
        channels.consumer_channels,
        channels.consumer_valid_ranges
    from data_sources
    inner join feeding
        on
            data_sources.grid_id = feeding.grid_id
            and data_sources.meter_id = feeding.meter_id
    inner join channels
        on
            data_sources.grid_id = channels.grid_id
            and data_sources.meter_id = channels.meter_id
    left join grids
        on data_sources.grid_id = grids.grid_id

)

select * from final
