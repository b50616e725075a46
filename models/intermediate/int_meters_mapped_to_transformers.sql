{#-
    Meter -> every transformer above it: level 1 is the transformer that feeds
    the meter directly, level 2 its parent, and so on. A small table (meters x
    levels) that the big roll-up join hashes against. Only meters whose walk
    found a transformer appear; the others are listed in
    int_data_issues_collected.
-#}

with

meters as (

    select
        grid_id,
        element_id as meter_id,
        feeding_transformer_id
    from {{ ref('int_elements_walked_to_transformers') }}
    where
        element_type = 'Meter'
        and walk_status = 'found_transformer'

),

meter_details as (

    select
        grid_id,
        element_id as meter_id,
        customer_type
    from {{ ref('stg_edm__grid_elements') }}
    where is_meter

),

consumer_sources as (

    select distinct
        grid_id,
        element_id as meter_id
    from {{ ref('stg_edm__data_sources') }}
    where source_type = 'CONSUMER'

),

transformers as (

    select * from {{ ref('int_transformers_nested') }}

),

levels as (

    select
        meters.grid_id,
        meters.meter_id,
        ancestor.transformer_id,
        cast(ancestor.position as integer) as level
    from meters
    inner join transformers
        on
            meters.grid_id = transformers.grid_id
            and meters.feeding_transformer_id = transformers.transformer_id
    cross join
        lateral unnest(transformers.ancestor_path)
        with ordinality as ancestor (transformer_id, position)

),

final as (

    select
        levels.grid_id,
        levels.meter_id,
        levels.transformer_id,
        levels.level,
        meter_details.customer_type,
        consumer_sources.meter_id is not null as has_consumer_source
    from levels
    inner join meter_details
        on
            levels.grid_id = meter_details.grid_id
            and levels.meter_id = meter_details.meter_id
    left join consumer_sources
        on
            levels.grid_id = consumer_sources.grid_id
            and levels.meter_id = consumer_sources.meter_id

)

select * from final
