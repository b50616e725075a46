{{
    config(
        indexes=[
            {'columns': ['transformer_key'], 'unique': true},
        ],
    )
}}

{#-
    Per transformer (int_transformer_ancestors' key): a fingerprint of
    everything under it that shapes its load history: every data source of
    every meter downstream (any level) with its type, valid range, service
    limit and the grid's interval. An incremental roll-up rewrites the whole
    history of a transformer whose fingerprint differs from the one its
    stored rows carry (a meter moved or added with backfill, a valid range
    or limit changed, a new transformer).
-#}

with

transformers as (

    select
        grid_id,
        transformer_id,
        transformer_key
    from {{ ref('int_transformer_ancestors') }}
    where levels_up = 0

),

sources_below as (

    select
        meter_map.grid_id,
        meter_map.transformer_id,
        string_agg(
            concat_ws(
                '|',
                data_sources.data_source_id,
                meter_map.meter_id,
                data_sources.is_consumer,
                data_sources.valid_during,
                data_sources.max_service_kw,
                data_sources.interval_s
            ),
            ',' order by data_sources.data_source_id
        ) as fingerprint
    from {{ ref('int_meters_mapped_to_transformers') }} as meter_map
    inner join
        {{ ref('int_data_sources_mapped_to_transformers') }} as data_sources
        on
            meter_map.grid_id = data_sources.grid_id
            and meter_map.meter_id = data_sources.meter_id
    group by meter_map.grid_id, meter_map.transformer_id

),

final as (

    select
        transformers.grid_id,
        transformers.transformer_id,
        transformers.transformer_key,
        cast(md5(coalesce(sources_below.fingerprint, '')) as uuid)
            as meter_set_id
    from transformers
    left join sources_below
        on
            transformers.grid_id = sources_below.grid_id
            and transformers.transformer_id = sources_below.transformer_id

)

select * from final
