{#-
    A data test's `sql_header` config (planner settings for one test, e.g.
    the energy-conservation test's memory and hash aggregate), run on the
    test's connection and in its transaction just before its query.

    dbt's test materialization only sends it when the flag
    require_sql_header_in_test_configs is set, and dbt-core 1.11 does not
    know that flag (it is never set, whatever dbt_project.yml says), so the
    header is run here, where the materialization builds the test's query
    (dispatched get_test_sql), as a statement of its own: Citus refuses a
    distributed query sent in one message after other statements ("cannot
    execute a distributed query from a query on a shard"). The header must
    therefore only hold settings (SET LOCAL ...), no query. Should dbt send
    it too, the settings are simply made twice.
-#}
{% macro postgres__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) -%}
    {%- set sql_header = config.get('sql_header') -%}
    {%- if sql_header and execute -%}
        {%- do run_query(sql_header) -%}
    {%- endif -%}
    {{ dbt.default__get_test_sql(main_sql, fail_calc, warn_if, error_if, limit) }}
{%- endmacro %}
