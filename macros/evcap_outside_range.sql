{#-
    SQL condition that is true when `column` lies outside [min_value,
    max_value] (a bound that is none is left out; with inclusive false the
    bounds themselves are outside too); a null column makes it null. None
    when neither bound is given. The generic tests accepted_range (seeds)
    and row_rules (models) read ranges through it.
-#}
{% macro evcap_outside_range(
    column, min_value=none, max_value=none, inclusive=true
) -%}
    {%- set outside = [] -%}
    {%- if min_value is not none -%}
        {%- do outside.append(
            column ~ (' < ' if inclusive else ' <= ') ~ min_value
        ) -%}
    {%- endif -%}
    {%- if max_value is not none -%}
        {%- do outside.append(
            column ~ (' > ' if inclusive else ' >= ') ~ max_value
        ) -%}
    {%- endif -%}
    {{- return(outside | join(' or ') if outside else none) -}}
{%- endmacro %}

