{#-
    The only way evcap reads time series: the EDM's set-returning function,
    called in `cross join lateral`. Returns ("timestamp", value, period,
    received). `timerange` (a tstzrange expression, optional) is passed on
    as the function's third argument, so a real, non-inlinable EDM function
    can restrict its own read. Unit tests override this macro with a VALUES
    list.
-#}
{% macro evcap_ts_data_source_select(id_expr, metric_key, timerange=none) -%}
    {{ adapter.quote(var('edm_schema')) }}.ts_data_source_select({{ id_expr }}, '{{ metric_key }}'
    {%- if timerange is not none %}, {{ timerange }}{% endif %})
{%- endmacro %}
