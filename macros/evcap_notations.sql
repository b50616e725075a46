{#-
    Reading EDM notations through seed edm_notations (see its docs and
    int_transformer_nameplates_parsed).
-#}

{#-
    `<number>[[Y]/<number>] [unit]`: capture 1 and 2 are the numbers, 3 the
    unit text. The digit counts keep every accepted number inside float8.
-#}
{% macro evcap_notation_pattern() -%}
    {%- set number = "[-+]?(?:[0-9]{1,15}(?:[.][0-9]*)?|[.][0-9]{1,15})(?:[eE][-+]?[0-9]{1,2})?" -%}
    ^\s*({{ number }})\s*(?:[yY]?\s*/\s*({{ number }}))?\s*([a-zA-Z]*)\s*$
{%- endmacro %}


{#-
    The value seed edm_notations (read by the calling model as CTE
    `notations`) gives `text_expr` for `kind`: null when no row matches or
    rows of different values do (ambiguous = unreadable).
-#}
{% macro evcap_notation_value(kind, text_expr) -%}
    (
        select
            case
                when count(distinct notations.value) = 1
                    then min(notations.value)
            end as notation_value
        from notations
        where
            notations.kind = '{{ kind }}'
            and {{ text_expr }} ~* notations.pattern
    )
{%- endmacro %}


{#- ok | missing | unparseable | not_positive -#}
{% macro evcap_notation_status(text_expr, value_expr) -%}
    case
        when nullif(trim({{ text_expr }}), '') is null then 'missing'
        when {{ value_expr }} is null then 'unparseable'
        when {{ value_expr }} <= 0 then 'not_positive'
        else 'ok'
    end
{%- endmacro %}
