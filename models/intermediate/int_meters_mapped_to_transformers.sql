{{
    config(
        indexes=[
            {'columns': ['grid_id', 'meter_id', 'transformer_id'], 'unique': true},
        ],
    )
}}

{#-
    Meter -> every transformer above it: level 1 is the transformer that feeds
    the meter directly, level 2 its parent, and so on. A small table (meters x
    levels) that the big roll-up join hashes against.

    A meter that cannot be placed (int_elements_walked_to_transformers) is
    never dropped silently. Where it was last known under a transformer (the
    first one up its chain when open switches are ignored: a meter cut off by
    an open switch) it is mapped to that transformer and every transformer
    above it with is_placed false and level null: it counts in their
    meters_expected, so their coverage drops, but no reading of it is added
    to any load (the roll-up reads level 1 only). A meter with no
    transformer anywhere up its chain (orphan, loop, top reached) has no
    row here; int_data_issues_collected lists every unplaced meter.
-#}

with

walked as (

    select
        grid_id,
        element_id as meter_id,
        walk_status = 'found_transformer' as is_placed,
        case
            when walk_status = 'found_transformer'
                then feeding_transformer_id
            else last_known_transformer_id
        end as transformer_id
    from {{ ref('int_elements_walked_to_transformers') }}
    where element_type = 'Meter'

),

meters as (

    select * from walked
    where transformer_id is not null

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
        meters.is_placed,
        ancestor.transformer_id,
        case
            when meters.is_placed then cast(ancestor.position as integer)
        end as level
    from meters
    inner join transformers
        on
            meters.grid_id = transformers.grid_id
            and meters.transformer_id = transformers.transformer_id
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
        levels.is_placed,
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
