{#-
    The only way evcap reads time series: the EDM's set-returning function,
    called in `cross join lateral`. Returns ("timestamp", value, period,
    received). Unit tests override this macro with a VALUES list.
-#}
{% macro evcap_ts_data_source_select(id_expr, metric_key) -%}
    {{ adapter.quote(var('edm_schema')) }}.ts_data_source_select({{ id_expr }}, '{{ metric_key }}')
{%- endmacro %}
