{#-
    Reading EDM notations through seed edm_notations (see its docs and
    int_transformer_nameplates_parsed).
-#}

{#-
    `<number>[[Y]/<number>] [unit]`. The digit counts keep every accepted
    number inside float8.
-#}
{% macro evcap_notation_number() -%}
    [-+]?(?:[0-9]{1,15}(?:[.][0-9]*)?|[.][0-9]{1,15})(?:[eE][-+]?[0-9]{1,2})?
{%- endmacro %}


{#-
    The parts of a notation `text_expr`, as a text array: [1] and [2] the
    numbers (of a pair, [2] null without one), [3] the unit text ('' for
    none); null when the text is not a notation. Same parts as
    regexp_match with the pattern's three capture groups, without them:
    PostgreSQL's regex engine takes tens of microseconds per row to place
    captures, a whole-text test and match bounds take about one, and
    nameplates are parsed for every transformer of every grid. Valid text
    starts (after blanks) with the first number, holds the second after its
    only '/', and ends with the unit letters and blanks (a letter that
    follows digits of an exponent is part of the number, so the trailing
    letters are never in a number).
-#}
{% macro evcap_notation_parts(text_expr) -%}
    {%- set number = evcap_notation_number() -%}
    case
        when
            {{ text_expr }}
            ~ '^\s*{{ number }}\s*(?:[yY]?\s*/\s*{{ number }})?\s*[a-zA-Z]*\s*$'
            then array[
                substring({{ text_expr }} from '{{ number }}'),
                substring(
                    split_part({{ text_expr }}, '/', 2) from '{{ number }}'
                ),
                rtrim(
                    substring({{ text_expr }} from '[a-zA-Z]*\s*$'),
                    {#- the class \s: blank, tab, newline, VT, FF, CR -#}
                    ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)
                )
            ]
    end
{%- endmacro %}


{#-
    The value seed edm_notations (read by the calling model as CTE
    `notations`) gives a notation text of a kind: null when no row matches
    or rows of different values do (ambiguous = unreadable). One row per
    (kind, notation_text) of `texts` (a relation or CTE with those
    columns), to join on: each distinct text is matched against the
    patterns once, however many elements carry it.
-#}
{% macro evcap_notation_values(texts) -%}
    (
        select
            texts.kind,
            texts.notation_text,
            (
                select
                    case
                        when count(distinct notations.value) = 1
                            then min(notations.value)
                    end as notation_value
                from notations
                where
                    notations.kind = texts.kind
                    and texts.notation_text ~* notations.pattern
            ) as notation_value
        from (
            select distinct
                kind,
                notation_text
            from {{ texts }}
            where notation_text is not null
        ) as texts
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
