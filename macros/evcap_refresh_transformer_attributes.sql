{#-
    Post-hook of fct_transformer_load. An incremental run recomputes only the
    rows from its cut-off on, but capacity_kw, capacity budget and
    meters_expected come from dim_transformers / the meter map, which change
    with the overrides seed, the vars or the topology. A transformer whose
    OLDEST stored row (one the run did not recompute) disagrees with the
    current attributes gets all its rows' capacity, headroom, budgeted
    headroom, meters_expected and coverage rewritten. The check is one index
    lookup per transformer; nothing is rewritten when nothing changed.
-#}
{% macro evcap_refresh_transformer_attributes(relation) -%}
    with current_attributes as (
        select
            dim.grid_id,
            dim.transformer_id,
            dim.capacity_kw,
            dim.capacity_budget,
            cast(coalesce(expected.meters_expected, 0) as integer)
                as meters_expected
        from {{ ref('dim_transformers') }} as dim
        left join (
            select
                grid_id,
                transformer_id,
                count(*) filter (where has_consumer_source) as meters_expected
            from {{ ref('int_meters_mapped_to_transformers') }}
            group by grid_id, transformer_id
        ) as expected
            on
                dim.grid_id = expected.grid_id
                and dim.transformer_id = expected.transformer_id
    ),

    changed as (
        select current_attributes.*
        from current_attributes
        {% if evcap_is_citus() -%}
        {#- no LATERAL into a distributed table: the oldest row of every
            transformer at once, on the shards -#}
        inner join (
            select distinct on (stored.grid_id, stored.transformer_id)
                stored.grid_id,
                stored.transformer_id,
                stored.capacity_kw,
                stored.headroom_kw,
                stored.budgeted_headroom_kw,
                stored.meters_expected
            from {{ relation }} as stored
            order by
                stored.grid_id asc,
                stored.transformer_id asc,
                stored.interval_start asc
        ) as oldest
            on
                current_attributes.grid_id = oldest.grid_id
                and current_attributes.transformer_id = oldest.transformer_id
        {%- else %}
        cross join lateral (
            select
                stored.capacity_kw,
                stored.headroom_kw,
                stored.budgeted_headroom_kw,
                stored.meters_expected
            from {{ relation }} as stored
            where
                stored.grid_id = current_attributes.grid_id
                and stored.transformer_id = current_attributes.transformer_id
            order by stored.interval_start asc
            limit 1
        ) as oldest
        {%- endif %}
        where
            oldest.capacity_kw is distinct from current_attributes.capacity_kw
            or oldest.meters_expected
            is distinct from current_attributes.meters_expected
            or abs(
                oldest.budgeted_headroom_kw
                - oldest.headroom_kw * current_attributes.capacity_budget
            ) > 1e-9
    )

    update {{ relation }} as stored
    set
        capacity_kw = changed.capacity_kw,
        headroom_kw = changed.capacity_kw - stored.load_kw,
        budgeted_headroom_kw
        = (changed.capacity_kw - stored.load_kw) * changed.capacity_budget,
        meters_expected = changed.meters_expected,
        meter_coverage
        = stored.meters_reporting
        / cast(nullif(changed.meters_expected, 0) as float8)
    from changed
    where
        stored.grid_id = changed.grid_id
        and stored.transformer_id = changed.transformer_id
{%- endmacro %}
