{#-
    Transformer hierarchy: each transformer's parent (the nearest transformer
    upstream), its depth (0 = top) and its chain of ancestors. A transformer
    whose chain returns to itself is flagged as in a cycle; the chain is cut
    there, so nothing is counted twice.
-#}

with recursive

transformers as (

    select
        grid_id,
        element_id as transformer_id,
        feeding_transformer_id as parent_transformer_id,
        walk_status
    from {{ ref('int_elements_walked_to_transformers') }}
    where element_type = 'Transformer'

),

chain as (

    select
        grid_id,
        transformer_id,
        parent_transformer_id as next_id,
        0 as levels_up,
        array[transformer_id] as ancestors
    from transformers

    union all

    select
        chain.grid_id,
        chain.transformer_id,
        parent.parent_transformer_id as next_id,
        chain.levels_up + 1 as levels_up,
        chain.ancestors || parent.transformer_id as ancestors
    from chain
    inner join transformers as parent
        on
            chain.grid_id = parent.grid_id
            and chain.next_id = parent.transformer_id
    where
        chain.next_id <> all(chain.ancestors)
        and chain.levels_up < {{ var('max_topology_depth') }}

),

chain_ends as (

    select distinct on (grid_id, transformer_id)
        grid_id,
        transformer_id,
        next_id,
        levels_up,
        ancestors
    from chain
    order by grid_id asc, transformer_id asc, levels_up desc

),

final as (

    select
        transformers.grid_id,
        transformers.transformer_id,
        transformers.parent_transformer_id,
        ends.levels_up as depth,
        ends.ancestors[array_length(ends.ancestors, 1)] as top_transformer_id,
        ends.ancestors as ancestor_path,
        coalesce(ends.next_id = any(ends.ancestors), false) as is_in_cycle,
        coalesce(
            ends.next_id is not null and not ends.next_id = any(ends.ancestors),
            false
        ) as is_depth_exceeded,
        transformers.walk_status
    from transformers
    inner join chain_ends as ends
        on
            transformers.grid_id = ends.grid_id
            and transformers.transformer_id = ends.transformer_id

)

select * from final
