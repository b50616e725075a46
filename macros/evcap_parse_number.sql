{#-
    Typed numbers from EDM `meta` values that arrive as JSON numbers or as
    strings ("50", " 50.0 ", "50 kVA", "120/240 V"). Anything else is
    garbage and becomes NULL, never an error: the digit counts in the pattern
    keep every accepted value inside float8's range.
-#}

{% macro evcap_number_pattern(unit=none, allow_pair=false) -%}
    {%- set number = "[-+]?([0-9]{1,15}([.][0-9]*)?|[.][0-9]{1,15})([eE][-+]?[0-9]{1,2})?" -%}
    {%- set suffix = "(\\s*" ~ unit ~ ")?" if unit else "" -%}
    {%- if allow_pair -%}
        ^\s*{{ number }}(\s*/\s*{{ number }})?{{ suffix }}\s*$
    {%- else -%}
        ^\s*{{ number }}{{ suffix }}\s*$
    {%- endif -%}
{%- endmacro %}


{% macro evcap_parse_number(text_expr, unit=none, allow_pair=false) -%}
    {#- The larger of a pair "120/240" is the line-to-line voltage. -#}
    {%- set stripped -%}
        regexp_replace({{ text_expr }}, '{{ "\\s*" ~ unit ~ "\\s*$" if unit else "\\s*$" }}', '', 'i')
    {%- endset -%}
    case
        when {{ text_expr }} ~* '{{ evcap_number_pattern(unit, allow_pair) }}'
            then greatest(
                cast(split_part({{ stripped }}, '/', 1) as float8),
                cast(nullif(split_part({{ stripped }}, '/', 2), '') as float8)
            )
    end
{%- endmacro %}


{% macro evcap_number_status(text_expr, unit=none, allow_pair=false) -%}
    {#- 'missing' | 'unparseable' | 'not_positive' | 'ok' -#}
    case
        when {{ text_expr }} is null or trim({{ text_expr }}) = ''
            then 'missing'
        when not {{ text_expr }} ~* '{{ evcap_number_pattern(unit, allow_pair) }}'
            then 'unparseable'
        when {{ evcap_parse_number(text_expr, unit, allow_pair) }} <= 0
            then 'not_positive'
        else 'ok'
    end
{%- endmacro %}


{#-
    A voltage in V from "240", "120/240 V" or "12.47 kV" (kV x 1000): medium
    voltages written in kV must not look unknown, since an unknown secondary
    voltage does not block a charger count.
-#}
{% macro evcap_parse_voltage(text_expr) -%}
    coalesce(
        {{ evcap_parse_number(text_expr, 'v', true) }},
        1000 * {{ evcap_parse_number(text_expr, 'kv', true) }}
    )
{%- endmacro %}


{% macro evcap_voltage_status(text_expr) -%}
    case
        when
            {{ evcap_number_status(text_expr, 'v', true) }} = 'unparseable'
            then {{ evcap_number_status(text_expr, 'kv', true) }}
        else {{ evcap_number_status(text_expr, 'v', true) }}
    end
{%- endmacro %}
