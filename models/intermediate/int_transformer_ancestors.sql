{{
    config(
        indexes=[
            {'columns': ['transformer_key', 'ancestor_key'], 'unique': true},
            {'columns': ['grid_id', 'transformer_id', 'levels_up'], 'unique': true},
        ],
    )
}}

{#-
    Transformer -> itself and every transformer above it (levels_up 0 = self,
    1 = parent, ...), with an integer surrogate key per transformer (stable
    only within one build). A small table, so the roll-up in
    fct_transformer_load joins and groups on integers, not on
    (grid_id, transformer_id) text pairs, from real statistics.

    ancestor_feeding_transformers counts the transformers at or below the
    ancestor that feed a meter directly: where it is 1, the ancestor's load
    is that one transformer's, with nothing to add up.
-#}

with

transformers as (

    select
        grid_id,
        transformer_id,
        ancestor_path,
        cast(
            row_number() over (order by grid_id, transformer_id) as integer
        ) as transformer_key
    from {{ ref('int_transformers_nested') }}

),

feeding_transformers as (

    select distinct
        grid_id,
        feeding_transformer_id as transformer_id
    from {{ ref('int_elements_walked_to_transformers') }}
    where
        element_type = 'Meter'
        and walk_status = 'found_transformer'

),

paths as (

    select
        transformers.grid_id,
        transformers.transformer_id,
        transformers.transformer_key,
        ancestors.transformer_id as ancestor_transformer_id,
        ancestors.transformer_key as ancestor_key,
        cast(walked.position - 1 as integer) as levels_up,
        feeding_transformers.transformer_id is not null as feeds_meters
    from transformers
    cross join
        lateral unnest(transformers.ancestor_path)
        with ordinality as walked (transformer_id, position)
    inner join transformers as ancestors
        on
            transformers.grid_id = ancestors.grid_id
            and walked.transformer_id = ancestors.transformer_id
    left join feeding_transformers
        on
            transformers.grid_id = feeding_transformers.grid_id
            and transformers.transformer_id
            = feeding_transformers.transformer_id

),

final as (

    select
        grid_id,
        transformer_id,
        transformer_key,
        ancestor_transformer_id,
        ancestor_key,
        levels_up,
        feeds_meters,
        cast(
            count(*) filter (where feeds_meters)
                over (partition by ancestor_key)
            as integer
        ) as ancestor_feeding_transformers
    from paths

)

select * from final
