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
            {'columns': ['cells_built_at']},
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
            "delete from {{ this }}
            where cells_built_at is null and intervals is null",
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

    Incremental, exact: a month-hour is recomputed when one of its cells
    was written since this table was last built (the cells' built_at is
    newer than the newest cells_built_at stored here; a cell that lost its
    rows stays as a tombstone with a new built_at). Those cells are found
    by an index range on built_at, and the month-hours' cells by index
    probes per (transformer, month), so a night reads the cells of the
    month its new day fell in, never all of them. A month-hour left without
    used cells is written with null statistics and cells_built_at and
    deleted (post-hook). The index on cells_built_at finds both the newest
    stamp and those rows: no night reads the whole table (transformers x
    288 rows) for them.
-#}

{%- set profile_key = [
    'grid_id', 'transformer_id', 'local_month', 'local_hour',
] %}

{#-
    A full build reads every used cell once (no month-hours to find, no
    stored rows to clear); an incremental run the month-hours it changed.
    key_source: the CTE the final rows' keys come from.
-#}
{%- set key_source = 'recomputed' if is_incremental() else 'loads' %}

with

{%- if is_incremental() %}

    changed_cells as (

        {#- cells written since this table was last built (an index range) -#}
        select
            {%- for column in profile_key %}
                changed.{{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from {{ ref('int_transformer_load_cells') }} as changed
        where
            changed.built_at > coalesce(
                (
                    select max(kept.cells_built_at) as newest_cells_built_at
                    from {{ this }} as kept
                ),
                '-infinity'
            )

    ),

    recomputed as materialized (

        {#- month-hours with a changed cell -#}
        select distinct
            {%- for column in profile_key %}
                {{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        from changed_cells

    ),

    recomputed_months as (

        select distinct
            grid_id,
            transformer_id,
            local_month
        from recomputed

    ),

    month_cells as (

        {#-
            the used cells of each recomputed transformer and month: on one
            node an index range each (the cells' unique index); on Citus a
            co-located join on the shards (no LATERAL into them)
        -#}
        select
            {%- for column in profile_key %}
                cells_of_month.{{ column }},
            {%- endfor %}
            cells_of_month.built_at,
            cells_of_month.loads_kw
        from
            recomputed_months
        {%- if evcap_is_citus() %}
            inner join {{ ref('int_transformer_load_cells') }} as cells_of_month
                on
                    recomputed_months.grid_id = cells_of_month.grid_id
                    and recomputed_months.transformer_id
                    = cells_of_month.transformer_id
                    and recomputed_months.local_month = cells_of_month.local_month
                    and cells_of_month.intervals_used > 0
        {%- else %}
            cross join
                lateral (
                    select
                        {%- for column in profile_key %}
                            month_cell.{{ column }},
                        {%- endfor %}
                        month_cell.built_at,
                        month_cell.loads_kw
                    from {{ ref('int_transformer_load_cells') }} as month_cell
                    where
                        month_cell.grid_id = recomputed_months.grid_id
                        and month_cell.transformer_id
                        = recomputed_months.transformer_id
                        and month_cell.local_month = recomputed_months.local_month
                        and month_cell.intervals_used > 0
                    -- keeps the probe a probe (not pulled up into a hash join)
                    offset 0  -- noqa: AM09
                ) as cells_of_month
        {%- endif %}

    ),

    recomputed_cells as (

        {#- the used weekday cells of every recomputed month-hour -#}
        select
            {%- for column in profile_key %}
                recomputed.{{ column }},
            {%- endfor %}
            month_cells.built_at,
            month_cells.loads_kw
        from recomputed
        inner join month_cells
            on {{ evcap_keys_equal('recomputed', 'month_cells', profile_key) }}

    ),

{%- else %}

    recomputed_cells as (

        {#- every used cell (a full build) -#}
        select
            {%- for column in profile_key %}
                cells.{{ column }},
            {%- endfor %}
            cells.built_at,
            cells.loads_kw
        from {{ ref('int_transformer_load_cells') }} as cells
        where cells.intervals_used > 0

    ),

{%- endif %}

cells_per_month_hour as (

    select
        {%- for column in profile_key %}
            {{ column }},
        {%- endfor %}
        count(*) as cells_used,
        max(built_at) as cells_built_at
    from recomputed_cells
    group by {{ profile_key | join(', ') }}

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
            {{ key_source }}.{{ column }},
        {%- endfor %}
        loads.intervals,
        loads.min_load_kw,
        loads.p05_load_kw,
        loads.p50_load_kw,
        loads.mean_load_kw,
        loads.p95_load_kw,
        loads.max_load_kw,
        cells_per_month_hour.cells_used,
        cells_per_month_hour.cells_built_at
    {%- if is_incremental() %}
        -- a month-hour left without used cells: null statistics (deleted)
        from recomputed
        left join loads
            on {{ evcap_keys_equal('recomputed', 'loads', profile_key) }}
    {%- else %}
        from loads
    {%- endif %}
    left join cells_per_month_hour
        on {{ evcap_keys_equal(
            key_source, 'cells_per_month_hour', profile_key
        ) }}

)

select * from final
