{#-
    Plain typed numbers from EDM `meta` values that arrive as JSON numbers or
    as strings (" 50.0 ", "-123.1"), e.g. latitude and longitude. Anything
    else is garbage and becomes NULL, never an error: the digit counts in the
    pattern keep every accepted value inside float8's range.

    Nameplate notations with units and pairs ('250 kVA', '208Y/120',
    '0.4 kV') are read by int_transformer_nameplates_parsed through seed
    edm_notations, not here.
-#}

{% macro evcap_number_pattern() -%}
    ^\s*[-+]?([0-9]{1,15}([.][0-9]*)?|[.][0-9]{1,15})([eE][-+]?[0-9]{1,2})?\s*$
{%- endmacro %}


{% macro evcap_parse_number(text_expr) -%}
    case
        when {{ text_expr }} ~ '{{ evcap_number_pattern() }}'
            then cast(trim({{ text_expr }}) as float8)
    end
{%- endmacro %}
