{#-
    Monthly range partitions (PostgreSQL declarative partitioning) for an
    incremental model built by dbt's own incremental materialization:

    - evcap_partition_by_month(relation, column, indexes) is a post-hook. On
      a first build or a full refresh dbt has just created a plain table
      (relkind 'r'); the hook turns it into a table partitioned by range on
      `column` (one partition per UTC month, named <table>_pYYYYMM), moves
      the rows in, builds `indexes` on the parent (PostgreSQL builds them on
      every partition, and on every partition created later) and analyzes
      it. On an incremental run the table is already partitioned (relkind
      'p') and the hook does nothing. The table's and its columns' comments
      (dbt's persist_docs, written before the hook) are kept. A full
      refresh first drops dbt's backup of the previous table, whose
      partitions hold the same names.
    - evcap_create_month_partitions(target, source, column) creates the
      partitions that rows of `source` need and the target lacks; the
      incremental strategy evcap_replace_since runs it before its insert.

    Everything runs in the model's transaction: a failed run leaves the
    previous table as it was.
-#}

{% macro evcap_month_partition_loop(schema, identifier, month_query) -%}
    for month_start in {{ month_query }} loop
        execute format(
            'create table if not exists %I.%I partition of %I.%I'
            ' for values from (%L) to (%L)',
            {{ evcap_text_literal(schema) }},
            {{ evcap_text_literal(identifier) }} || '_p'
            || to_char(month_start at time zone 'UTC', 'YYYYMM'),
            {{ evcap_text_literal(schema) }},
            {{ evcap_text_literal(identifier) }},
            month_start,
            month_start + interval '1 month'
        );
    end loop;
{%- endmacro %}


{% macro evcap_text_literal(text) -%}
    '{{ text | replace("'", "''") }}'
{%- endmacro %}


{% macro evcap_months_of(relation, column) -%}
    select distinct date_trunc('month', {{ adapter.quote(column) }}, 'UTC')
    from {{ relation }}
    where {{ adapter.quote(column) }} is not null
{%- endmacro %}


{% macro evcap_partition_by_month(relation, column, indexes=[]) -%}
    {%- set backup = make_backup_relation(relation, 'table') -%}
    {%- set plain = relation.incorporate(
        path={'identifier': relation.identifier ~ '__unpartitioned'}
    ) -%}
    do $evcap$
    declare
        month_start timestamptz;
    begin
        if (
            select relkind from pg_class
            where oid = to_regclass({{ evcap_text_literal(relation) }})
        ) <> 'r' then
            return;
        end if;
        drop table if exists {{ backup }} cascade;
        alter table {{ relation }} rename to {{ adapter.quote(plain.identifier) }};
        -- comments too: dbt wrote the model's docs (persist_docs) on the
        -- plain table before this hook
        create table {{ relation }} (
            like {{ plain }} including defaults including comments
        )
        partition by range ({{ adapter.quote(column) }});
        execute format(
            'comment on table %s is %L',
            {{ evcap_text_literal(relation) }},
            obj_description(
                to_regclass({{ evcap_text_literal(plain) }}), 'pg_class'
            )
        );
        {{ evcap_month_partition_loop(
            relation.schema,
            relation.identifier,
            evcap_months_of(plain, column)
        ) }}
        insert into {{ relation }} select * from {{ plain }};
        drop table {{ plain }};
        {%- for index in indexes %}
        create {{ 'unique ' if index.get('unique') }}index
        on {{ relation }} ({{ index['columns'] | map('string') | join(', ') }});
        {%- endfor %}
        analyze {{ relation }};
    end
    $evcap$
{%- endmacro %}


{% macro evcap_create_month_partitions(target, source, column) -%}
    do $evcap$
    declare
        month_start timestamptz;
    begin
        {{ evcap_month_partition_loop(
            target.schema,
            target.identifier,
            evcap_months_of(source, column)
        ) }}
    end
    $evcap$
{%- endmacro %}
