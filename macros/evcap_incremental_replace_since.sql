{#-
    Incremental strategy `evcap_replace_since` for models that recompute
    every row of a group from a cut-off time on (int_transformer_loads_rolled_up
    recomputes every transformer from its own cut-off): per group (config
    `evcap_group_columns`, default [grid_id]) delete the target's rows from
    the first recomputed time (config `evcap_time_column`, default
    interval_start) on, then insert the recomputed rows. The delete is an
    index range, work proportional to the new data; dbt's delete+insert
    matches every key against the whole table. Groups with nothing
    recomputed are left as they are. With config `evcap_partition_by_month`
    true, the monthly partitions the new rows need are created first
    (macros/evcap_partitions.sql).
-#}
{% macro get_incremental_evcap_replace_since_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set time_name = config.get('evcap_time_column', 'interval_start') -%}
    {%- set time_column = adapter.quote(time_name) -%}
    {%- set group_columns = config.get('evcap_group_columns', ['grid_id']) -%}
    {%- set columns = get_quoted_csv(
        arg_dict['dest_columns'] | map(attribute='name')
    ) -%}
    {%- if config.get('evcap_partition_by_month', false) %}
        {{ evcap_create_month_partitions(target, source, time_name) }};
    {%- endif %}

    delete from {{ target }} as stored
    using (
        select
            {%- for group_column in group_columns %}
                recomputed.{{ adapter.quote(group_column) }},
            {%- endfor %}
            min(recomputed.{{ time_column }}) as recomputed_from
        from {{ source }} as recomputed
        group by
            {%- for group_column in group_columns %}
                recomputed.{{ adapter.quote(group_column) }}
                {%- if not loop.last %},{% endif %}
            {%- endfor %}
    ) as recomputed
    where
        {%- for group_column in group_columns %}
            stored.{{ adapter.quote(group_column) }}
            = recomputed.{{ adapter.quote(group_column) }} and
        {%- endfor %}
        stored.{{ time_column }} >= recomputed.recomputed_from
        -- the same bound as one constant: an index range, not a table scan
        and stored.{{ time_column }} >= (
            select min(earliest.{{ time_column }})
            from {{ source }} as earliest
        );

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
{%- endmacro %}
