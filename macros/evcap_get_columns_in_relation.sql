{#-
    dbt-postgres reads column types from information_schema.columns, where a
    PostGIS geometry (any extension type) is 'USER-DEFINED': a unit test
    whose source has such a column then casts to that word and fails; an
    array is 'ARRAY' there (a unit test's input, or a new array column an
    incremental model appends, fails the same way). Same query, with the
    real type name (schema-qualified, element type[] for an array) for those
    columns, so the unit tests run on a real EDM with PostGIS geometry and
    on models with array columns.
-#}
{% macro postgres__get_columns_in_relation(relation) -%}
    {% call statement('get_columns_in_relation', fetch_result=True) %}
        select
            column_name,
            case
                when data_type = 'USER-DEFINED'
                    then quote_ident(udt_schema) || '.' || quote_ident(udt_name)
                -- an array's element type is its udt_name without the '_'
                when data_type = 'ARRAY'
                    then quote_ident(udt_schema) || '.'
                    || quote_ident(substr(udt_name, 2)) || '[]'
                else data_type
            end as data_type,
            character_maximum_length,
            numeric_precision,
            numeric_scale
        from {{ relation.information_schema('columns') }}
        where
            table_name = '{{ relation.identifier }}'
            {% if relation.schema %}
                and table_schema = '{{ relation.schema }}'
            {% endif %}
        order by ordinal_position
    {% endcall %}
    {% set table = load_result('get_columns_in_relation').table %}
    {{ return(sql_convert_columns_in_relation(table)) }}
{%- endmacro %}
