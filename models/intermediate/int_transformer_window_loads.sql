{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['grid_id', 'transformer_id', 'window_name'],
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['grid_id', 'transformer_id', 'window_name'],
             'unique': true},
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
            "delete from {{ this }} where intervals_used is null",
        ],
    )
}}

{#-
    The used loads (kW) of every transformer in every charging window (seed
    charging_windows), from the calendar cells of int_transformer_load_cells
    the window covers: how many, the highest, and the (1 -
    var('headroom_quantile')) continuous percentile, exact
    (macros/evcap_percentile_cont_sorted.sql: PostgreSQL's arithmetic).
    transformer_window_headroom turns them into headroom.

    Incremental, exact: a (transformer, window) is recomputed only when what
    it is built from changed since it was stored - one of its used cells was
    written later (cells' built_at), a cell came or went (the count), the
    window's definition or var('headroom_quantile') is not the stored one.
    A night's new day changes the cells of one local (month, weekday), so
    windows that do not cover it (a summer window in November) are not
    re-sorted. Finding what changed is one aggregate of the cells and of
    this table (the grid's size, not the history's). A (transformer, window)
    left without used cells is written with null loads and deleted
    (post-hook).
-#}

{%- set window_key = ['grid_id', 'transformer_id', 'window_name'] %}

with

window_cells as not materialized (

    {#- the used cells of every window (a hash join on the cell) -#}
    select
        cells.grid_id,
        cells.transformer_id,
        calendar_cells.window_name,
        calendar_cells.window_definition,
        cells.loads_kw,
        cells.built_at
    from {{ ref('int_transformer_load_cells') }} as cells
    inner join {{ ref('int_charging_window_cells') }} as calendar_cells
        on
            cells.local_month = calendar_cells.local_month
            and cells.local_isodow = calendar_cells.local_isodow
            and cells.local_hour = calendar_cells.local_hour
    where cells.intervals_used > 0

),

now_windows as (

    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        window_definition,
        count(*) as cells_used,
        max(built_at) as cells_built_at
    from window_cells
    group by {{ window_key | join(', ') }}, window_definition

),

kept_windows as (

    {#- what this table holds; nothing before the first build -#}
    select
        {%- for column in window_key %}
            kept.{{ column }},
        {%- endfor %}
        kept.window_definition,
        kept.headroom_quantile,
        kept.cells_used,
        kept.cells_built_at
    {%- if is_incremental() %}
        from {{ this }} as kept
    {%- else %}
        from (
            select
                cast(null as text) as grid_id,
                cast(null as text) as transformer_id,
                cast(null as text) as window_name,
                cast(null as text) as window_definition,
                cast(null as float8) as headroom_quantile,
                cast(null as bigint) as cells_used,
                cast(null as timestamptz) as cells_built_at
            where false
        ) as kept
    {%- endif %}

),

recomputed as (

    {#- windows whose used cells or definition changed (or with none now) -#}
    select
        {%- for column in window_key %}
            coalesce(
                now_windows.{{ column }}, kept_windows.{{ column }}
            ) as {{ column }},
        {%- endfor %}
        now_windows.window_definition,
        now_windows.cells_used,
        now_windows.cells_built_at
    from now_windows
    full join kept_windows
        on
            {%- for column in window_key %}
                now_windows.{{ column }} = kept_windows.{{ column }}
                {%- if not loop.last %} and{% endif %}
            {%- endfor %}
    where
        now_windows.cells_used is distinct from kept_windows.cells_used
        or now_windows.cells_built_at
        is distinct from kept_windows.cells_built_at
        or now_windows.window_definition
        is distinct from kept_windows.window_definition
        or kept_windows.headroom_quantile
        is distinct from cast({{ var('headroom_quantile') }} as float8)

),

recomputed_cells as (

    select
        {%- for column in window_key %}
            window_cells.{{ column }},
        {%- endfor %}
        window_cells.loads_kw
    from window_cells
    inner join recomputed
        on
            {%- for column in window_key %}
                window_cells.{{ column }} = recomputed.{{ column }}
                {%- if not loop.last %} and{% endif %}
            {%- endfor %}

),

peaks as (

    {#-
        every used load of the window, sorted, from the window's cells, with
        their count and the highest
    -#}
    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        cast(value_count as integer) as intervals_used,
        max_value_kw as peak_load_kw,
        {{ evcap_percentile_cont_sorted(
            'sorted_loads_kw', '1 - ' ~ var('headroom_quantile')
        ) }} as load_kw_at_headroom_quantile
    from {{ evcap_sorted_per_group(
        'recomputed_cells', window_key, 'loads_kw',
    ) }} as sorted

),

final as (

    select
        {%- for column in window_key %}
            recomputed.{{ column }},
        {%- endfor %}
        peaks.intervals_used,
        peaks.peak_load_kw,
        peaks.load_kw_at_headroom_quantile,
        cast({{ var('headroom_quantile') }} as float8) as headroom_quantile,
        recomputed.window_definition,
        recomputed.cells_used,
        recomputed.cells_built_at
    from recomputed
    left join peaks
        on
            {%- for column in window_key %}
                recomputed.{{ column }} = peaks.{{ column }}
                {%- if not loop.last %} and{% endif %}
            {%- endfor %}

)

select * from final
