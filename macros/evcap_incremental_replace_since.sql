{#-
    Incremental strategy `evcap_replace_since` for models that recompute
    every row from a cut-off time on (fct_transformer_load recomputes every
    transformer from the lookback cut-off): delete the target's rows from the
    first recomputed interval on, then insert the recomputed rows. The delete
    is a range on the time column (config `evcap_time_column`, default
    interval_start), which an index turns into work proportional to the new
    data; dbt's delete+insert matches every key against the whole table.
    Rows of an interval that no longer has any valid reading disappear too.
-#}
{% macro get_incremental_evcap_replace_since_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set time_column = adapter.quote(
        config.get('evcap_time_column', 'interval_start')
    ) -%}
    {%- set columns = get_quoted_csv(
        arg_dict['dest_columns'] | map(attribute='name')
    ) -%}
    delete from {{ target }}
    where {{ time_column }} >= (
        select min(recomputed.{{ time_column }})
        from {{ source }} as recomputed
    );

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
{%- endmacro %}
