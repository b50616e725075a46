{{
    config(
        indexes=[
            {'columns': ['grid_id', 'transformer_id'], 'unique': true},
        ],
    )
}}

{#-
    Transformer hierarchy: each transformer's parent (the nearest transformer
    upstream), its depth (0 = top) and its chain of ancestors, built by one
    walk DOWN from the top transformers (no parent): each transformer is
    reached once, from its parent, so there is no depth cap.

    Transformers the walk never reaches have a chain of parents that runs
    into a loop. Each loop is cut at its smallest transformer id (that one
    becomes a top: its ancestor_path stops there), its members are flagged
    is_in_cycle, and a second walk down from the cut points reaches the rest,
    so nothing is counted twice. Finding the loops walks up with a visited
    array, but only over the transformers caught in or below a loop.
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

from_tops as (

    select
        grid_id,
        transformer_id,
        array[transformer_id] as ancestor_path
    from transformers
    where parent_transformer_id is null

    union all

    select
        from_tops.grid_id,
        child.transformer_id,
        array_prepend(
            child.transformer_id, from_tops.ancestor_path
        ) as ancestor_path
    from from_tops
    inner join transformers as child
        on
            from_tops.grid_id = child.grid_id
            and from_tops.transformer_id = child.parent_transformer_id

),

unreached as (

    select transformers.*
    from transformers
    where not exists (
            select 1 as found
            from from_tops
            where
                from_tops.grid_id = transformers.grid_id
                and from_tops.transformer_id = transformers.transformer_id
        )

),

loop_search as (

    select
        grid_id,
        transformer_id as start_id,
        parent_transformer_id as next_id,
        array[transformer_id] as visited
    from unreached

    union all

    select
        loop_search.grid_id,
        loop_search.start_id,
        parent.parent_transformer_id as next_id,
        loop_search.visited || parent.transformer_id as visited
    from loop_search
    inner join unreached as parent
        on
            loop_search.grid_id = parent.grid_id
            and loop_search.next_id = parent.transformer_id
    where loop_search.next_id <> all(loop_search.visited)

),

loop_members as (

    {#- a walk that comes back to its start: the start is on the loop -#}
    select
        grid_id,
        start_id as transformer_id,
        (
            select min(member) as smallest_id
            from unnest(visited) as member
        ) as cut_id
    from loop_search
    where next_id = start_id

),

from_cuts as (

    select
        grid_id,
        transformer_id,
        array[transformer_id] as ancestor_path
    from loop_members
    where transformer_id = cut_id

    union all

    select
        from_cuts.grid_id,
        child.transformer_id,
        array_prepend(
            child.transformer_id, from_cuts.ancestor_path
        ) as ancestor_path
    from from_cuts
    inner join unreached as child
        on
            from_cuts.grid_id = child.grid_id
            and from_cuts.transformer_id = child.parent_transformer_id
    where not exists (
            select 1 as found
            from loop_members as cut
            where
                cut.grid_id = child.grid_id
                and cut.transformer_id = child.transformer_id
                and cut.cut_id = cut.transformer_id
        )

),

paths as (

    select * from from_tops
    union all
    select * from from_cuts

),

final as (

    select
        transformers.grid_id,
        transformers.transformer_id,
        transformers.parent_transformer_id,
        cardinality(paths.ancestor_path) - 1 as depth,
        paths.ancestor_path[cardinality(paths.ancestor_path)]
            as top_transformer_id,
        paths.ancestor_path,
        loop_members.transformer_id is not null as is_in_cycle,
        transformers.walk_status
    from transformers
    inner join paths
        on
            transformers.grid_id = paths.grid_id
            and transformers.transformer_id = paths.transformer_id
    left join loop_members
        on
            transformers.grid_id = loop_members.grid_id
            and transformers.transformer_id = loop_members.transformer_id

)

select * from final
