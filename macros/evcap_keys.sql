{#-
    `left`.column = `right`.column for every column of `columns`, joined by
    and: the join condition on a composite key (a transformer's cell,
    month-hour or window) between two relations (SQL aliases).
-#}
{% macro evcap_keys_equal(left, right, columns) -%}
    {%- for column in columns %}
        {{ left }}.{{ column }} = {{ right }}.{{ column }}
        {%- if not loop.last %} and{% endif %}
    {%- endfor %}
{%- endmacro %}


{#-
    A relation with no rows and the given columns, a list of (name, SQL
    type) pairs: what an incremental model's own table holds before its
    first build, so its "what is stored" CTE reads the same either way.
-#}
{% macro evcap_no_rows(columns_and_types) -%}
    (
        select
            {%- for column, type in columns_and_types %}
                cast(null as {{ type }}) as {{ column }}
                {%- if not loop.last %},{% endif %}
            {%- endfor %}
        where false
    )
{%- endmacro %}
