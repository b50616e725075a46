{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['grid_id', 'transformer_id', 'local_month', 'local_hour'],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': [
                'grid_id', 'transformer_id', 'local_month', 'local_hour',
            ], 'unique': true},
        ],
        meta={
            'evcap_distribution': {
                'column': 'transformer_id',
                'colocate_with': 'int_transformer_loads_rolled_up',
            },
        },
        pre_hook=[
            "{{ evcap_set_work_mem() }}",
            "{{ evcap_disable_jit() }}",
            "{{ evcap_prefer_hash_plans() }}",
        ],
        post_hook=[
            "delete from {{ this }} where intervals is null",
        ],
    )
}}

{#-
    Load statistics (kW) of every transformer per local month and local hour
    (the 12 x 24 profile), over the used intervals of the 7 weekday cells of
    int_transformer_load_cells in that month-hour: count, min, max, mean and
    exact continuous percentiles (macros/evcap_percentile_cont_sorted.sql,
    PostgreSQL's arithmetic). transformer_headroom_profile adds capacity and
    headroom.

    Incremental, exact: a month-hour is recomputed when its used cells
    changed since it was stored - a cell written after it (cells' built_at,
    newer at every run that writes a cell), a cell added or gone (the count
    differs). A night's new day touches one month per transformer, so the
    percentiles are re-sorted for 1/12 of the profile. Finding the changed
    month-hours is one aggregate of the cells and of this table (the grid's
    size, not the history's). A month-hour left without used cells is
    written with null statistics and deleted (post-hook).
-#}

{%- set profile_key = [
    'grid_id', 'transformer_id', 'local_month', 'local_hour',
] %}

{#- this table, or before its first build a relation with its columns -#}
{%- set stored_table = this if is_incremental() else evcap_no_rows([
    ('grid_id', 'text'),
    ('transformer_id', 'text'),
    ('local_month', 'integer'),
    ('local_hour', 'integer'),
    ('cells_used', 'bigint'),
    ('cells_built_at', 'timestamptz'),
]) %}

with

used_cells as not materialized (

    select
        {%- for column in profile_key %}
            cells.{{ column }},
        {%- endfor %}
        cells.loads_kw,
        cells.built_at
    from {{ ref('int_transformer_load_cells') }} as cells
    where cells.intervals_used > 0

),

now_month_hours as (

    select
        {%- for column in profile_key %}
            {{ column }},
        {%- endfor %}
        count(*) as cells_used,
        max(built_at) as cells_built_at
    from used_cells
    group by {{ profile_key | join(', ') }}

),

kept_month_hours as (

    {#- what this table holds; nothing before the first build -#}
    select
        {%- for column in profile_key %}
            kept.{{ column }},
        {%- endfor %}
        kept.cells_used,
        kept.cells_built_at
    from {{ stored_table }} as kept

),

recomputed as (

    {#- month-hours whose used cells changed (or that have none now) -#}
    select
        {%- for column in profile_key %}
            coalesce(
                now_month_hours.{{ column }}, kept_month_hours.{{ column }}
            ) as {{ column }},
        {%- endfor %}
        now_month_hours.cells_used,
        now_month_hours.cells_built_at
    from now_month_hours
    full join kept_month_hours
        on {{ evcap_keys_equal(
            'now_month_hours', 'kept_month_hours', profile_key
        ) }}
    where
        now_month_hours.cells_used
        is distinct from kept_month_hours.cells_used
        or now_month_hours.cells_built_at
        is distinct from kept_month_hours.cells_built_at

),

recomputed_cells as (

    select
        {%- for column in profile_key %}
            used_cells.{{ column }},
        {%- endfor %}
        used_cells.loads_kw
    from used_cells
    inner join recomputed
        on
            {{ evcap_keys_equal('used_cells', 'recomputed', profile_key) }}

),

loads as (

    {#-
        every used load of the month-hour, sorted, from its weekday cells,
        with its count, min, max and sum
    -#}
    select
        {%- for column in profile_key %}
            {{ column }},
        {%- endfor %}
        cast(value_count as integer) as intervals,
        min_value_kw as min_load_kw,
        value_sum_kw / value_count as mean_load_kw,
        max_value_kw as max_load_kw,
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', 0.05) }}
            as p05_load_kw,
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', 0.5) }}
            as p50_load_kw,
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', 0.95) }}
            as p95_load_kw
    from {{ evcap_sorted_per_group(
        'recomputed_cells', profile_key, 'loads_kw',
    ) }} as sorted

),

final as (

    select
        {%- for column in profile_key %}
            recomputed.{{ column }},
        {%- endfor %}
        loads.intervals,
        loads.min_load_kw,
        loads.p05_load_kw,
        loads.p50_load_kw,
        loads.mean_load_kw,
        loads.p95_load_kw,
        loads.max_load_kw,
        recomputed.cells_used,
        recomputed.cells_built_at
    from recomputed
    left join loads
        on
            {{ evcap_keys_equal('recomputed', 'loads', profile_key) }}

)

select * from final
