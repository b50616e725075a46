{#-
    Incremental strategy `evcap_replace_since` for models that recompute
    every row of a group from a cut-off time on (int_transformer_loads_rolled_up
    recomputes every transformer from its own cut-off): per group (config
    `evcap_group_columns`, default [grid_id]) the target's rows are replaced
    from a time (config `evcap_time_column`, default interval_start) on.
    Groups with nothing recomputed are left as they are. With config
    `evcap_partition_by_month` true, the monthly partitions the new rows need
    are created first (macros/evcap_partitions.sql).

    A group is replaced only from where the recomputation changed
    something: its first recomputed row that is new or differs from the
    stored one (every column but config `evcap_stamp_column`, default
    rebuilt_at; floating-point columns by more than 1e-9 relative, as a sum
    over the same rows in another order differs in its last bits), or its
    first stored row the recomputation no longer has; when that first
    change is such a vanished row, moved back to the stored row before it
    when there is one (so the vanished row is inside the replaced range,
    which downstream finds by the stamp). A first change that is a new row
    is not moved back: the rows stamped are then new ones only, which the
    calendar cells add to their stored loads without re-reading the history
    (int_transformer_load_cells). Rows before that
    keep their stamp: a night that recomputes its lookback hours to the same
    values writes only the new ones, and models reading the rows stamped
    since their last run (int_transformer_load_cells, the energy test) read
    the new data alone. The comparison is one hash join of the recomputed
    rows with the stored rows of the same range (config `unique_key` matches
    them); the stored rows are an index range, the delete too (dbt's own
    delete+insert matches every key against the whole table). No correlated
    subquery, so the same statements run on Citus.

    Both are bounded below by the earliest recomputed time, read from the
    recomputed rows before the statements are built and written in as a
    literal: with a subquery there the planner assumes a third of the
    table and scanned the latest month's partition whole every night
    (238,056 rows read for the 16,023 of the lookback on the bench year; a
    month of every transformer at a utility), where a literal prunes the
    partitions at plan time and lets it see how few rows the range holds.
-#}
{% macro get_incremental_evcap_replace_since_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set dest_columns = arg_dict['dest_columns'] -%}
    {%- set time_name = config.get('evcap_time_column', 'interval_start') -%}
    {%- set time_column = adapter.quote(time_name) -%}
    {%- set group_columns = config.get('evcap_group_columns', ['grid_id']) -%}
    {%- set stamp_name = config.get('evcap_stamp_column', 'rebuilt_at') -%}
    {%- set key_names = config.get('unique_key') -%}
    {%- set columns = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    {%- set quoted_groups = [] -%}
    {%- for group_column in group_columns -%}
        {%- do quoted_groups.append(adapter.quote(group_column)) -%}
    {%- endfor -%}
    {%- set quoted_keys = [] -%}
    {%- for key_name in key_names -%}
        {%- do quoted_keys.append(adapter.quote(key_name)) -%}
    {%- endfor -%}
    {%- set value_columns = [] -%}
    {%- for column in dest_columns
        if column.name not in key_names + [stamp_name] -%}
        {%- do value_columns.append(column) -%}
    {%- endfor -%}
    {#- session-local, dropped when the model's transaction commits -#}
    {%- set replaced = 'evcap_replaced_from' -%}
    {%- set earliest_recomputed = evcap_scalar_literal(
        'select min(' ~ time_column ~ ') from ' ~ source
    ) -%}
    {%- if config.get('evcap_partition_by_month', false) %}
        {{ evcap_create_month_partitions(target, source, time_name) }};
    {%- endif %}

    analyze {{ source }};

    {#-
        per group, where the recomputed rows (`source`) first differ from the
        stored ones (`target`), moved back one stored row; the target's rows
        from there are deleted and the source's inserted; source rows before
        it equal stored ones and are not written
    -#}

    create temporary table {{ adapter.quote(replaced) }} on commit drop as
    with

    recomputed_ranges as (

        select
            {%- for group_column in quoted_groups %}
                recomputed.{{ group_column }},
            {%- endfor %}
            min(recomputed.{{ time_column }}) as recomputed_from
        from {{ source }} as recomputed
        group by
            {%- for group_column in quoted_groups %}
                recomputed.{{ group_column }}{% if not loop.last %},{% endif %}
            {%- endfor %}

    ),

    stored_rows as (

        select stored.*
        from {{ target }} as stored
        inner join recomputed_ranges
            on
                {{ evcap_keys_equal('stored', 'recomputed_ranges', quoted_groups) }}
                and stored.{{ time_column }} >= recomputed_ranges.recomputed_from
        -- the same bound as a literal: an index range, not a table scan
        where stored.{{ time_column }} >= {{ earliest_recomputed }}

    ),

    first_changes as (

        select
            {%- for group_column in quoted_groups %}
                coalesce(
                    recomputed.{{ group_column }},
                    stored_rows.{{ group_column }}
                ) as {{ group_column }},
            {%- endfor %}
            min(coalesce(
                recomputed.{{ time_column }}, stored_rows.{{ time_column }}
            )) as changed_from,
            min(stored_rows.{{ time_column }}) filter (
                where recomputed.{{ adapter.quote(key_names[0]) }} is null
            ) as first_vanished
        from {{ source }} as recomputed
        full outer join stored_rows
            on {{ evcap_keys_equal('recomputed', 'stored_rows', quoted_keys) }}
        where
            recomputed.{{ adapter.quote(key_names[0]) }} is null
            or stored_rows.{{ adapter.quote(key_names[0]) }} is null
            {%- for column in value_columns %}
                {%- set new_value = 'recomputed.' ~ adapter.quote(column.name) %}
                {%- set old_value = 'stored_rows.' ~ adapter.quote(column.name) %}
                or {{ new_value }} is distinct from {{ old_value }}
                {%- if column.is_float() %}
                    and not abs({{ new_value }} - {{ old_value }})
                    <= 1e-9 * greatest(1.0, abs({{ old_value }}))
                {%- endif %}
            {%- endfor %}
        group by
            {%- for group_column in quoted_groups %}
                {{ loop.index }}{% if not loop.last %},{% endif %}
            {%- endfor %}

    ),

    {#-
        the stored row before the first change within the recomputed range
        (the recomputation has it too, unchanged), for groups whose first
        change is a vanished row: that row then lies inside the replaced
        range
    -#}
    previous_rows as (

        select
            {%- for group_column in quoted_groups %}
                first_changes.{{ group_column }},
            {%- endfor %}
            max(stored_rows.{{ time_column }}) as previous_start
        from first_changes
        inner join stored_rows
            on
                {{ evcap_keys_equal('first_changes', 'stored_rows', quoted_groups) }}
                and stored_rows.{{ time_column }} < first_changes.changed_from
        -- only where the first change is a vanished row (none on a usual night)
        where first_changes.first_vanished = first_changes.changed_from
        group by
            {%- for group_column in quoted_groups %}
                first_changes.{{ group_column }}
                {%- if not loop.last %},{% endif %}
            {%- endfor %}

    )

    select
        {%- for group_column in quoted_groups %}
            first_changes.{{ group_column }},
        {%- endfor %}
        coalesce(
            previous_rows.previous_start, first_changes.changed_from
        ) as replaced_from
    from first_changes
    left join previous_rows
        on {{ evcap_keys_equal('first_changes', 'previous_rows', quoted_groups) }};

    delete from {{ target }} as stored
    using {{ adapter.quote(replaced) }} as replaced
    where
        {{ evcap_keys_equal('stored', 'replaced', quoted_groups) }}
        and stored.{{ time_column }} >= replaced.replaced_from
        -- a lower bound as a literal (a replaced range starts at or after
        -- its recomputed rows' start): an index range, not a table scan
        and stored.{{ time_column }} >= {{ earliest_recomputed }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }} as recomputed
    where exists (
        select 1 as found
        from {{ adapter.quote(replaced) }} as replaced
        where
            {{ evcap_keys_equal('recomputed', 'replaced', quoted_groups) }}
            and recomputed.{{ time_column }} >= replaced.replaced_from
    )
{%- endmacro %}

