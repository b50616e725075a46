{#-
    left + right where a null counts as 0, and null when both are null: the
    sum of two partial groups, of which either may have no value (a group
    with a value on neither side keeps none).
-#}
{% macro evcap_add_nullable(left, right) -%}
    case
        when {{ left }} is not null or {{ right }} is not null
            then coalesce({{ left }}, 0) + coalesce({{ right }}, 0)
    end
{%- endmacro %}
