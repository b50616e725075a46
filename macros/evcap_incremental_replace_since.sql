{#-
    Incremental strategy `evcap_replace_since` for models that recompute
    every row of a group from a cut-off time on (fct_transformer_load
    recomputes every transformer of a grid from the grid's cut-off): per
    group (config `evcap_group_column`, default grid_id) delete the target's
    rows from the first recomputed time (config `evcap_time_column`, default
    interval_start) on, then insert the recomputed rows. The delete is an
    index range, work proportional to the new data; dbt's delete+insert
    matches every key against the whole table. Groups with nothing
    recomputed are left as they are.
-#}
{% macro get_incremental_evcap_replace_since_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set time_column = adapter.quote(
        config.get('evcap_time_column', 'interval_start')
    ) -%}
    {%- set group_column = adapter.quote(
        config.get('evcap_group_column', 'grid_id')
    ) -%}
    {%- set columns = get_quoted_csv(
        arg_dict['dest_columns'] | map(attribute='name')
    ) -%}
    delete from {{ target }} as stored
    using (
        select
            recomputed.{{ group_column }},
            min(recomputed.{{ time_column }}) as recomputed_from
        from {{ source }} as recomputed
        group by recomputed.{{ group_column }}
    ) as recomputed
    where
        stored.{{ group_column }} = recomputed.{{ group_column }}
        and stored.{{ time_column }} >= recomputed.recomputed_from
        -- the same bound as one constant: an index range, not a table scan
        and stored.{{ time_column }} >= (
            select min(earliest.{{ time_column }})
            from {{ source }} as earliest
        );

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
{%- endmacro %}
