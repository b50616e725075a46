{#-
    A post-hook: an index on `columns` (plain, in that order) of `relation`,
    created when the table has none, whatever it is named. Unlike the model's
    `indexes` config (built only when dbt creates the table), it reaches a
    table an earlier release built, on its next incremental run, without a
    full refresh; PostgreSQL names it (so dbt's backup of the previous table
    during a full refresh, with its own index, is no conflict).
-#}
{% macro evcap_ensure_index(relation, columns) -%}
    {%- set table = relation.include(database=false) -%}
    do $evcap$
    begin
        if not exists (
            select 1 as found
            from pg_index as existing
            where
                existing.indrelid = {{ evcap_text_literal(table) }}::regclass
                and existing.indpred is null
                and existing.indexprs is null
                and (
                    select array_agg(attribute.attname::text order by key.position)
                    from unnest(existing.indkey)
                        with ordinality as key (attnum, position)
                    inner join pg_attribute as attribute
                        on
                            existing.indrelid = attribute.attrelid
                            and key.attnum = attribute.attnum
                ) = array[
                    {%- for column in columns -%}
                        {{ evcap_text_literal(column) }}
                        {%- if not loop.last %}, {% endif -%}
                    {%- endfor -%}
                ]
        ) then
            create index on {{ table }} (
                {{- columns | map('string') | join(', ') -}}
            );
        end if;
    end
    $evcap$
{%- endmacro %}
