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

    Each row keeps, beside the result, a band around its percentile: the
    loads inside (band_low_kw, band_high_kw], sorted, and how many lie at or
    below it. The percentile is exact whenever both ranks it needs fall
    inside the band.

    Incremental, in proportion to the cells written since this table was
    last built (the cells' built_at is newer than the newest cells_seen_at
    stored here: an index range; a cell that lost its rows stays as a
    tombstone with a new built_at). Each such cell carries the version it
    replaced (previous_loads_kw, previous_built_at), so a (transformer,
    window) is updated from the changed cells alone: counts and the loads
    at or below the band by difference, the band's loads as a multiset
    (stored + new - replaced), the peak as the greater of the stored and
    the new maxima. That update is exact; it is not taken (the pair is
    recomputed in full from all its cells, and its band centred again)
    when a replaced version is not the one this table saw (written twice
    since, or after a full refresh of the cells), when a cell that held the
    peak now holds less, when the percentile's ranks leave the band, or when the
    window's definition or var('headroom_quantile') is not the stored one
    (then every transformer of the window). A pair left without used cells
    is written with null loads and deleted (post-hook).
-#}

{%- set window_key = ['grid_id', 'transformer_id', 'window_name'] %}

{#- the percentile taken of the loads (headroom's quantile mirrored) -#}
{%- set fraction = '(1 - ' ~ var('headroom_quantile') ~ ')' %}

{#-
    Half the band's width around a new percentile, kW: 2 % of it, at least
    1 W. Wide enough for many nights' moves of a percentile of months of
    loads, narrow enough to keep a few per cent of them.
-#}
{%- set band_half_width_kw = (
    '(abs(recomputed_sorted.load_kw_at_headroom_quantile) * 0.02 + 0.001)'
) %}

{#-
    Where recomputed pairs read their cells: an incremental run on one node
    the cells of their transformers only (CTE recomputed_transformer_cells)
-#}
{%- set probe_recomputed_cells = is_incremental() and not evcap_is_citus() %}
{%- set recomputed_cells_source = (
    'recomputed_transformer_cells' if probe_recomputed_cells
    else ref('int_transformer_load_cells')
) %}

{#- this table, or before its first build a relation with its columns -#}
{%- set stored_table = this if is_incremental() else evcap_no_rows([
    ('grid_id', 'text'),
    ('transformer_id', 'text'),
    ('window_name', 'text'),
    ('intervals_used', 'integer'),
    ('peak_load_kw', 'float8'),
    ('headroom_quantile', 'float8'),
    ('window_definition', 'text'),
    ('cells_used', 'bigint'),
    ('cells_seen_at', 'timestamptz'),
    ('band_low_kw', 'float8'),
    ('band_high_kw', 'float8'),
    ('loads_at_or_below_band', 'bigint'),
    ('band_loads_kw', 'float8 []'),
]) %}

with

kept_windows as materialized (

    {#- what this table holds (nothing before the first build) -#}
    select
        {%- for column in window_key %}
            kept.{{ column }},
        {%- endfor %}
        kept.intervals_used,
        kept.peak_load_kw,
        kept.headroom_quantile,
        kept.window_definition,
        kept.cells_used,
        kept.cells_seen_at,
        kept.band_low_kw,
        kept.band_high_kw,
        kept.loads_at_or_below_band,
        kept.band_loads_kw
    from {{ stored_table }} as kept

),

-- where this run's search for changed cells starts (read by changed_cells
-- on incremental runs only: a full build reads no changed cells)
kept_seen as (  -- noqa: ST03

    select max(kept.cells_seen_at) as newest_cells_seen_at
    from kept_windows as kept

),

windows_now as (

    select distinct
        window_name,
        window_definition
    from {{ ref('int_charging_window_cells') }}

),

{%- if not evcap_is_citus() %}

    used_calendar_cells as materialized (

        {#-
            the calendar cells (local month, ISO weekday, hour) any
            transformer has a used cell in: a loose scan of the cells'
            calendar index, one probe per such cell (2,016 at most), each
            the next key in index order. A probe per window cell instead
            was planned as a scan of every cell per probe on a table fresh
            from a full build (no statistics yet): 37 s at 100,000 meters
        -#}
        with recursive used_cell_keys as (
            (
                select
                    cells.local_month,
                    cells.local_isodow,
                    cells.local_hour
                from {{ ref('int_transformer_load_cells') }} as cells
                where cells.intervals_used > 0
                order by
                    cells.local_month, cells.local_isodow, cells.local_hour
                limit 1
            )
            union all
            select
                next_cell.local_month,
                next_cell.local_isodow,
                next_cell.local_hour
            from used_cell_keys as previous
            cross join lateral (
                select
                    cells.local_month,
                    cells.local_isodow,
                    cells.local_hour
                from {{ ref('int_transformer_load_cells') }} as cells
                where
                    (cells.local_month, cells.local_isodow, cells.local_hour)
                    > (
                        previous.local_month,
                        previous.local_isodow,
                        previous.local_hour
                    )
                    and cells.intervals_used > 0
                order by
                    cells.local_month, cells.local_isodow, cells.local_hour
                limit 1
            ) as next_cell
        )

        select * from used_cell_keys

    ),

{%- endif %}

windows_recomputed as materialized (

    {#-
        windows whose every transformer is recomputed in full: new ones
        (none stored) that a used cell falls in, and those whose definition
        or quantile differs from a stored row's
    -#}
    select
        windows_now.window_name,
        windows_now.window_definition
    from windows_now
    where
        (
            not exists (
                select 1 as found
                from kept_windows
                where kept_windows.window_name = windows_now.window_name
            )
            {%- if not evcap_is_citus() %}
                {#-
                    and a used cell falls in it (used_calendar_cells): a
                    window no used cell falls in yet (summer, with months
                    of winter data) is computed when its first cell
                    arrives, as a changed cell; recomputed every night, it
                    read every transformer's cells (seen: 1.07 M cells and
                    3,164 scans of the calendar on a no-data night at
                    20,000 meters)
                #}
                and exists (
                    select 1 as found
                    from
                        {{ ref('int_charging_window_cells') }}
                            as window_calendar
                    inner join used_calendar_cells
                        on
                            window_calendar.local_month
                            = used_calendar_cells.local_month
                            and window_calendar.local_isodow
                            = used_calendar_cells.local_isodow
                            and window_calendar.local_hour
                            = used_calendar_cells.local_hour
                    where window_calendar.window_name = windows_now.window_name
                )
            {%- endif %}
        )
        or exists (
            select 1 as found
            from kept_windows
            where
                kept_windows.window_name = windows_now.window_name
                and (
                    kept_windows.window_definition
                    is distinct from windows_now.window_definition
                    or kept_windows.headroom_quantile
                    is distinct from cast(
                        {{ var('headroom_quantile') }} as float8
                    )
                )
        )

),

changed_cells as materialized (

    {#-
        cells written since this table was last built (an index range on
        built_at), with the version each replaced and whether this table saw
        that version; none on a full build (every pair is recomputed)
    -#}
    {%- if not is_incremental() %}
        select *
        from {{ evcap_no_rows([
            ('grid_id', 'text'),
            ('transformer_id', 'text'),
            ('local_month', 'integer'),
            ('local_isodow', 'integer'),
            ('local_hour', 'integer'),
            ('loads_kw', 'float8 []'),
            ('previous_loads_kw', 'float8 []'),
            ('previous_version_seen', 'boolean'),
        ]) }} as no_cells
    {%- else %}
    select
        changed.grid_id,
        changed.transformer_id,
        changed.local_month,
        changed.local_isodow,
        changed.local_hour,
        changed.loads_kw,
        changed.previous_loads_kw,
        changed.previous_built_at is null
        or changed.previous_built_at <= (
            select kept_seen.newest_cells_seen_at from kept_seen
        ) as previous_version_seen
    from {{ ref('int_transformer_load_cells') }} as changed
    where
        changed.built_at > coalesce(
            (select kept_seen.newest_cells_seen_at from kept_seen),
            '-infinity'
        )
    {%- endif %}

),

changed_in_windows as (

    {#- every changed cell in every window it belongs to, with the band -#}
    select
        changed_cells.grid_id,
        changed_cells.transformer_id,
        calendar_cells.window_name,
        changed_cells.loads_kw,
        changed_cells.previous_loads_kw,
        changed_cells.previous_version_seen,
        kept_windows.band_low_kw,
        kept_windows.band_high_kw,
        kept_windows.peak_load_kw as kept_peak_load_kw
    from changed_cells
    inner join {{ ref('int_charging_window_cells') }} as calendar_cells
        on
            changed_cells.local_month = calendar_cells.local_month
            and changed_cells.local_isodow = calendar_cells.local_isodow
            and changed_cells.local_hour = calendar_cells.local_hour
    left join kept_windows
        on
            changed_cells.grid_id = kept_windows.grid_id
            and changed_cells.transformer_id = kept_windows.transformer_id
            and calendar_cells.window_name = kept_windows.window_name

),

pair_changes as (

    {#-
        per (transformer, window): what its changed cells add and take away
        (a cell is used when it has loads; width_bucket counts the sorted
        loads at or below the band's lower edge)
    -#}
    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        bool_and(previous_version_seen) as previous_versions_seen,
        sum(
            coalesce(cardinality(loads_kw), 0)
            - coalesce(cardinality(previous_loads_kw), 0)
        ) as intervals_added,
        sum(
            cast(coalesce(cardinality(loads_kw), 0) > 0 as integer)
            - cast(coalesce(cardinality(previous_loads_kw), 0) > 0 as integer)
        ) as cells_added,
        max(loads_kw[cardinality(loads_kw)]) as new_peak_load_kw,
        {#-
            the peak may have dropped: a cell that held it lost it (its new
            maximum, if any, is lower); else the peak is the greater of the
            stored one and the new maxima
        #}
        bool_or(
            previous_loads_kw[cardinality(previous_loads_kw)]
            >= kept_peak_load_kw
            and coalesce(
                loads_kw[cardinality(loads_kw)]
                < previous_loads_kw[cardinality(previous_loads_kw)],
                true
            )
        ) as peak_may_have_dropped,
        sum(
            coalesce(width_bucket(band_low_kw, loads_kw), 0)
            - coalesce(width_bucket(band_low_kw, previous_loads_kw), 0)
        ) as loads_at_or_below_band_added
    from changed_in_windows
    group by {{ window_key | join(', ') }}

),

updated_pairs as (

    {#- the pairs the changed cells can update (stored, band kept) -#}
    select
        {%- for column in window_key %}
            kept_windows.{{ column }},
        {%- endfor %}
        kept_windows.window_definition,
        kept_windows.intervals_used + pair_changes.intervals_added
            as intervals_used,
        kept_windows.cells_used + pair_changes.cells_added as cells_used,
        greatest(
            kept_windows.peak_load_kw, pair_changes.new_peak_load_kw
        ) as peak_load_kw,
        kept_windows.band_low_kw,
        kept_windows.band_high_kw,
        kept_windows.loads_at_or_below_band
        + pair_changes.loads_at_or_below_band_added as loads_at_or_below_band
    from pair_changes
    inner join kept_windows
        on {{ evcap_keys_equal('pair_changes', 'kept_windows', window_key) }}
    where
        pair_changes.previous_versions_seen
        and not coalesce(pair_changes.peak_may_have_dropped, false)
        and kept_windows.loads_at_or_below_band is not null
        and kept_windows.window_name not in (
            select windows_recomputed.window_name from windows_recomputed
        )

),

band_changes as (

    {#-
        the band's loads as a multiset: stored (+1), new ones inside the
        band (+1), replaced ones inside it (-1)
    -#}
    select
        {%- for column in window_key %}
            updated_pairs.{{ column }},
        {%- endfor %}
        stored_band.value_kw,
        1 as multiplicity
    from updated_pairs
    inner join kept_windows
        on {{ evcap_keys_equal('updated_pairs', 'kept_windows', window_key) }}
    cross join unnest(kept_windows.band_loads_kw) as stored_band (value_kw)
    union all
    select
        {%- for column in window_key %}
            changed_in_windows.{{ column }},
        {%- endfor %}
        new_band.value_kw,
        1 as multiplicity
    from changed_in_windows
    inner join updated_pairs
        on {{ evcap_keys_equal(
            'changed_in_windows', 'updated_pairs', window_key
        ) }}
    cross join unnest({{ evcap_band_slice(
        'changed_in_windows.loads_kw',
        'changed_in_windows.band_low_kw',
        'changed_in_windows.band_high_kw',
    ) }}) as new_band (value_kw)
    union all
    select
        {%- for column in window_key %}
            changed_in_windows.{{ column }},
        {%- endfor %}
        replaced_band.value_kw,
        -1 as multiplicity
    from changed_in_windows
    inner join updated_pairs
        on {{ evcap_keys_equal(
            'changed_in_windows', 'updated_pairs', window_key
        ) }}
    cross join unnest({{ evcap_band_slice(
        'changed_in_windows.previous_loads_kw',
        'changed_in_windows.band_low_kw',
        'changed_in_windows.band_high_kw',
    ) }}) as replaced_band (value_kw)

),

band_counted as (

    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        value_kw,
        sum(multiplicity) as multiplicity
    from band_changes
    group by {{ window_key | join(', ') }}, value_kw

),

band_updated as (

    {#-
        each updated pair's band, sorted; inconsistent (a replaced load the
        band did not hold) when a multiplicity went below zero
    -#}
    select
        {%- for column in window_key %}
            band_counted.{{ column }},
        {%- endfor %}
        bool_or(band_counted.multiplicity < 0) as is_inconsistent,
        array_agg(band_counted.value_kw order by band_counted.value_kw)
        filter (where copies.copy is not null) as band_loads_kw
    from band_counted
    left join lateral generate_series(
        1, cast(band_counted.multiplicity as integer)
    ) as copies (copy) on true
    group by band_counted.{{ window_key | join(', ') }}

),

updated as (

    {#- the updates whose percentile the band answers -#}
    select *
    from (
        select
            updated_pairs.*,
            band_updated.band_loads_kw,
            {{ evcap_percentile_cont_sorted(
                'band_updated.band_loads_kw',
                fraction,
                value_count='updated_pairs.intervals_used',
                rank_offset='updated_pairs.loads_at_or_below_band',
            ) }} as load_kw_at_headroom_quantile
        from updated_pairs
        inner join band_updated
            on {{ evcap_keys_equal(
                'updated_pairs', 'band_updated', window_key
            ) }}
        where
            not band_updated.is_inconsistent
            and updated_pairs.intervals_used > 0
    ) as updated_for_band
    where load_kw_at_headroom_quantile is not null

),

recomputed_pairs as materialized (

    {#-
        pairs recomputed in full from all their cells: those with a changed
        cell the update did not answer; every transformer of a window
        recomputed whole (the topology's: a cell's transformer is in it);
        those stored of such a window or of one no longer in the seed
    -#}
    select
        {%- for column in window_key %}
            pair_changes.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from pair_changes
    -- those the update did not answer (an anti-join)
    left join updated
        on {{ evcap_keys_equal('pair_changes', 'updated', window_key) }}
    where updated.grid_id is null
    union
    select
        topology.grid_id,
        topology.transformer_id,
        windows_recomputed.window_name
    from {{ ref('int_transformers_nested') }} as topology
    cross join windows_recomputed
    union
    select
        {%- for column in window_key %}
            kept_windows.{{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from kept_windows
    where
        kept_windows.window_name in (
            select windows_recomputed.window_name from windows_recomputed
        )
        or kept_windows.window_name not in (
            select windows_now.window_name from windows_now
        )

),

{%- if probe_recomputed_cells %}

    recomputed_transformer_cells as (

        {#- the cells of the recomputed pairs' transformers (index ranges) -#}
        select transformer_cell.*
        from (
            select distinct
                recomputed_pairs.grid_id,
                recomputed_pairs.transformer_id
            from recomputed_pairs
        ) as recomputed_transformers
        cross join
            lateral (
                {#- what recomputed_loads reads (not the replaced loads) -#}
                select
                    probed.grid_id,
                    probed.transformer_id,
                    probed.local_month,
                    probed.local_isodow,
                    probed.local_hour,
                    probed.intervals_used,
                    probed.loads_kw
                from {{ ref('int_transformer_load_cells') }} as probed
                where
                    probed.grid_id = recomputed_transformers.grid_id
                    and probed.transformer_id
                    = recomputed_transformers.transformer_id
                -- keeps the probe a probe (not pulled up into a hash join)
                offset 0  -- noqa: AM09
            ) as transformer_cell

    ),

{%- endif %}

recomputed_loads as not materialized (

    {#-
        the used cells of every pair recomputed in full, each with its
        windows (cells x a small calendar), then kept for the pairs (hash
        joins). A full build (every pair) joins all cells to the calendar
        first, behind a fence on one node: else the planner hashes every
        (pair, cell of its transformer) before the calendar filters them
        (seen: 2.3 M rows for 0.7 M kept at 100,000 meters). An incremental
        run (a few pairs, if any) reads only the cells of their transformers,
        an index range each on one node (seen: all 659,232 cells hashed,
        0.3 s, for one pair; on Citus a co-located join)
    -#}
    select
        window_cells.grid_id,
        window_cells.transformer_id,
        window_cells.window_name,
        window_cells.window_definition,
        window_cells.loads_kw
    from (
        select
            cells.grid_id,
            cells.transformer_id,
            calendar_cells.window_name,
            calendar_cells.window_definition,
            cells.loads_kw
        from {{ recomputed_cells_source }} as cells
        inner join {{ ref('int_charging_window_cells') }} as calendar_cells
            on
                cells.local_month = calendar_cells.local_month
                and cells.local_isodow = calendar_cells.local_isodow
                and cells.local_hour = calendar_cells.local_hour
        where cells.intervals_used > 0
        {%- if not is_incremental() and not evcap_is_citus() %}
            -- keeps this join first (Citus: pushed down to the shards)
            offset 0  -- noqa: AM09
        {%- endif %}
    ) as window_cells
    inner join recomputed_pairs
        on {{ evcap_keys_equal(
            'window_cells', 'recomputed_pairs', window_key
        ) }}

),

recomputed_sorted as (

    {#-
        every used load of each pair recomputed in full, sorted, with their
        count and maximum (one pass)
    -#}
    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        value_count as intervals_used,
        max_value_kw as peak_load_kw,
        {{ evcap_percentile_cont_sorted('sorted_loads_kw', fraction) }}
            as load_kw_at_headroom_quantile
    from {{ evcap_sorted_per_group(
        'recomputed_loads', window_key, 'loads_kw',
    ) }} as sorted

),

recomputed_bands as (

    {#- the band centred on the new percentile, kW -#}
    select
        recomputed_sorted.*,
        recomputed_sorted.load_kw_at_headroom_quantile
        - {{ band_half_width_kw }} as band_low_kw,
        recomputed_sorted.load_kw_at_headroom_quantile
        + {{ band_half_width_kw }} as band_high_kw
    from recomputed_sorted

),

recomputed_band_cells as materialized (

    {#-
        each recomputed cell's loads at or below the band and inside it
        (binary search in its sorted loads; a second pass, kept: read twice)
    -#}
    select
        {%- for column in window_key %}
            recomputed_loads.{{ column }},
        {%- endfor %}
        recomputed_loads.window_definition,
        width_bucket(recomputed_bands.band_low_kw, recomputed_loads.loads_kw)
            as loads_at_or_below_band,
        {{ evcap_band_slice(
            'recomputed_loads.loads_kw',
            'recomputed_bands.band_low_kw',
            'recomputed_bands.band_high_kw',
        ) }} as band_loads_kw
    from recomputed_loads
    inner join recomputed_bands
        on {{ evcap_keys_equal(
            'recomputed_loads', 'recomputed_bands', window_key
        ) }}

),

recomputed_band_counts as (

    select
        {%- for column in window_key %}
            {{ column }},
        {%- endfor %}
        window_definition,
        count(*) as cells_used,
        sum(loads_at_or_below_band) as loads_at_or_below_band
    from recomputed_band_cells
    group by {{ window_key | join(', ') }}, window_definition

),

recomputed_band_loads as (

    select
        {%- for column in window_key %}
            recomputed_band_cells.{{ column }},
        {%- endfor %}
        array_agg(band.value_kw order by band.value_kw) as band_loads_kw
    from recomputed_band_cells
    cross join unnest(recomputed_band_cells.band_loads_kw) as band (value_kw)
    where cardinality(recomputed_band_cells.band_loads_kw) > 0
    group by recomputed_band_cells.{{ window_key | join(', ') }}

),

cells_seen as (

    {#- the newest cell written: where the next run's search starts -#}
    select max(any_cell.built_at) as cells_seen_at
    from {{ ref('int_transformer_load_cells') }} as any_cell

),

results as (

    select
        {%- for column in window_key %}
            updated.{{ column }},
        {%- endfor %}
        updated.intervals_used,
        updated.peak_load_kw,
        updated.load_kw_at_headroom_quantile,
        updated.window_definition,
        updated.cells_used,
        updated.band_low_kw,
        updated.band_high_kw,
        updated.loads_at_or_below_band,
        updated.band_loads_kw
    from updated
    union all
    select
        {%- for column in window_key %}
            recomputed_pairs.{{ column }},
        {%- endfor %}
        recomputed_bands.intervals_used,
        recomputed_bands.peak_load_kw,
        recomputed_bands.load_kw_at_headroom_quantile,
        recomputed_band_counts.window_definition,
        recomputed_band_counts.cells_used,
        recomputed_bands.band_low_kw,
        recomputed_bands.band_high_kw,
        recomputed_band_counts.loads_at_or_below_band,
        recomputed_band_loads.band_loads_kw
    from recomputed_pairs
    left join recomputed_bands
        on {{ evcap_keys_equal(
            'recomputed_pairs', 'recomputed_bands', window_key
        ) }}
    left join recomputed_band_counts
        on {{ evcap_keys_equal(
            'recomputed_pairs', 'recomputed_band_counts', window_key
        ) }}
    left join recomputed_band_loads
        on {{ evcap_keys_equal(
            'recomputed_pairs', 'recomputed_band_loads', window_key
        ) }}
    left join kept_windows
        on {{ evcap_keys_equal(
            'recomputed_pairs', 'kept_windows', window_key
        ) }}
    -- a pair without used cells: written (null, then deleted) if stored
    where
        recomputed_bands.intervals_used is not null
        or kept_windows.grid_id is not null

),

final as (

    select
        {%- for column in window_key %}
            results.{{ column }},
        {%- endfor %}
        cast(results.intervals_used as integer) as intervals_used,
        results.peak_load_kw,
        results.load_kw_at_headroom_quantile,
        cast({{ var('headroom_quantile') }} as float8) as headroom_quantile,
        results.window_definition,
        cast(results.cells_used as bigint) as cells_used,
        cells_seen.cells_seen_at,
        results.band_low_kw,
        results.band_high_kw,
        cast(results.loads_at_or_below_band as bigint)
            as loads_at_or_below_band,
        results.band_loads_kw
    from results
    cross join cells_seen

)

select * from final
