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
    Finding what changed is one aggregate of the cells and of this table
    (the grid's size, not the history's).

    A recomputed window's count and peak come from its cells' own counts
    and maxima. Its percentile is looked for first near the stored one (a
    night's new day barely moves a percentile of months of loads): each
    cell's sorted loads are cut at the band's edges by binary search
    (width_bucket), so only the loads inside the band are collected and
    sorted, the others counted; when both ranks the percentile needs fall
    inside the band the result is exact. Otherwise (no stored value, or the
    band missed) every load of the window is collected and sorted. A
    (transformer, window) left without used cells is written with null
    loads and deleted (post-hook).
-#}

{%- set window_key = ['grid_id', 'transformer_id', 'window_name'] %}

{#- the percentile taken of the loads (headroom's quantile mirrored) -#}
{%- set fraction = '(1 - ' ~ var('headroom_quantile') ~ ')' %}

{#-
    Half the band's width around the stored percentile, kW: 2 % of it, at
    least 1 W. Wide enough for a night's move of a percentile of months of
    loads, narrow enough to collect a few per cent of them.
-#}
{%- set band_half_width_kw = (
    '(abs(kept.load_kw_at_headroom_quantile) * 0.02 + 0.001)'
) %}

{#- this table, or before its first build a relation with its columns -#}
{%- set stored_table = this if is_incremental() else evcap_no_rows([
    ('grid_id', 'text'),
    ('transformer_id', 'text'),
    ('window_name', 'text'),
    ('window_definition', 'text'),
    ('headroom_quantile', 'float8'),
    ('load_kw_at_headroom_quantile', 'float8'),
    ('cells_used', 'bigint'),
    ('cells_built_at', 'timestamptz'),
]) %}

with

kept_windows as (

    {#-
        what this table holds (nothing before the first build), with the
        band's edges around the stored percentile, kW
    -#}
    select
        {%- for column in window_key %}
            kept.{{ column }},
        {%- endfor %}
        kept.window_definition,
        kept.headroom_quantile,
        kept.cells_used,
        kept.cells_built_at,
        kept.load_kw_at_headroom_quantile
        - {{ band_half_width_kw }} as band_low_kw,
        kept.load_kw_at_headroom_quantile
        + {{ band_half_width_kw }} as band_high_kw
    from {{ stored_table }} as kept

),

window_loads as not materialized (

    {#- the used cells of every window, with their loads (a hash join) -#}
    select
        cells.grid_id,
        cells.transformer_id,
        calendar_cells.window_name,
        calendar_cells.window_definition,
        cells.intervals_used,
        cells.max_load_kw,
        cells.built_at,
        cells.loads_kw
    from {{ ref('int_transformer_load_cells') }} as cells
    inner join {{ ref('int_charging_window_cells') }} as calendar_cells
        on
            cells.local_month = calendar_cells.local_month
            and cells.local_isodow = calendar_cells.local_isodow
            and cells.local_hour = calendar_cells.local_hour
    where cells.intervals_used > 0

),

window_cells as not materialized (

    {#-
        One pass over the windows' cells: each cell's count, peak and stamp,
        how many of its loads lie at or below the band and those inside it,
        (band_low_kw, band_high_kw] (binary search in its sorted loads,
        width_bucket; null and empty without a band)
    -#}
    select
        {%- for column in window_key %}
            window_loads.{{ column }},
        {%- endfor %}
        window_loads.window_definition,
        window_loads.intervals_used,
        window_loads.max_load_kw,
        window_loads.built_at,
        width_bucket(kept_windows.band_low_kw, window_loads.loads_kw)
            as loads_at_or_below_band,
        window_loads.loads_kw[
            width_bucket(kept_windows.band_low_kw, window_loads.loads_kw)
            + 1:width_bucket(kept_windows.band_high_kw, window_loads.loads_kw)
        ] as band_loads_kw
    from window_loads
    left join kept_windows
        on
            {{ evcap_keys_equal('window_loads', 'kept_windows', window_key) }}

),

now_windows as (

    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        window_definition,
        count(*) as cells_used,
        max(built_at) as cells_built_at,
        sum(intervals_used) as intervals_used,
        max(max_load_kw) as peak_load_kw,
        sum(loads_at_or_below_band) as loads_at_or_below_band
    from window_cells
    group by {{ window_key | join(', ') }}, window_definition

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
        now_windows.cells_built_at,
        now_windows.intervals_used,
        now_windows.peak_load_kw,
        now_windows.loads_at_or_below_band
    from now_windows
    full join kept_windows
        on
            {{ evcap_keys_equal('now_windows', 'kept_windows', window_key) }}
    where
        now_windows.cells_used is distinct from kept_windows.cells_used
        or now_windows.cells_built_at
        is distinct from kept_windows.cells_built_at
        or now_windows.window_definition
        is distinct from kept_windows.window_definition
        or kept_windows.headroom_quantile
        is distinct from cast({{ var('headroom_quantile') }} as float8)

),

band_sorted as (

    {#- per window, the loads inside the band, sorted -#}
    select
        {%- for column in window_key %}
            window_cells.{{ column }},
        {%- endfor %}
        array_agg(band.value_kw order by band.value_kw) as band_loads_kw
    from window_cells
    cross join unnest(window_cells.band_loads_kw) as band (value_kw)
    where cardinality(window_cells.band_loads_kw) > 0
    group by {{ window_key | join(', ') }}

),

banded as (

    {#-
        the percentile when both its ranks fall inside the band, else null
        (a rank outside it is an out-of-range subscript of the band's loads)
    -#}
    select
        {%- for column in window_key %}
            recomputed.{{ column }},
        {%- endfor %}
        {{ evcap_percentile_cont_sorted(
            'band_sorted.band_loads_kw',
            fraction,
            value_count='recomputed.intervals_used',
            rank_offset='recomputed.loads_at_or_below_band',
        ) }} as load_kw_at_headroom_quantile
    from recomputed
    inner join band_sorted
        on
            {{ evcap_keys_equal('recomputed', 'band_sorted', window_key) }}

),

unbanded_loads as (

    {#- windows the band did not answer: every load of their cells -#}
    select
        {%- for column in window_key %}
            window_loads.{{ column }},
        {%- endfor %}
        window_loads.loads_kw
    from window_loads
    inner join recomputed
        on
            {{ evcap_keys_equal('window_loads', 'recomputed', window_key) }}
    left join banded
        on
            {{ evcap_keys_equal('recomputed', 'banded', window_key) }}
    where banded.load_kw_at_headroom_quantile is null

),

unbanded as (

    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', fraction) }}
            as load_kw_at_headroom_quantile
    from {{ evcap_sorted_per_group(
        'unbanded_loads', window_key, 'loads_kw',
    ) }} as sorted

),

final as (

    select
        {%- for column in window_key %}
            recomputed.{{ column }},
        {%- endfor %}
        cast(recomputed.intervals_used as integer) as intervals_used,
        recomputed.peak_load_kw,
        coalesce(
            banded.load_kw_at_headroom_quantile,
            unbanded.load_kw_at_headroom_quantile
        ) as load_kw_at_headroom_quantile,
        cast({{ var('headroom_quantile') }} as float8) as headroom_quantile,
        recomputed.window_definition,
        recomputed.cells_used,
        recomputed.cells_built_at
    from recomputed
    left join banded
        on
            {{ evcap_keys_equal('recomputed', 'banded', window_key) }}
    left join unbanded
        on
            {{ evcap_keys_equal('recomputed', 'unbanded', window_key) }}

)

select * from final
