{#-
    The slice of an incremental table that the latest dbt run rewrote, as a
    boolean SQL expression over the table's rows (for data tests: config
    `where`, or a filter in a singular test): every interval from the first
    one the latest run wrote (evcap_latest_run_start below) on; nothing
    when that run wrote nothing. Old rows at those intervals are inside the
    slice too, so a stale duplicate is still caught. After a full refresh
    every row carries the run's timestamp: the slice is the whole table.
    `relation` is the SQL name of the table (e.g. `ref('...')` rendered).
-#}
{% macro evcap_latest_run_slice(relation, time_column='interval_start') -%}
    {{ time_column }} >= {{ evcap_latest_run_start(relation, time_column) }}
{%- endmacro %}


{#-
    The first `time_column` the latest run of `relation`'s model wrote (rows
    carry `rebuilt_at`, the run's run_started_at: evcap_latest_rebuilt_at
    below), or null when it wrote none. Read when the test runs (its index
    on rebuilt_at finds the rows) and written in as a literal: compared with
    a subquery the planner assumes a third of the table and read the latest
    month's partition whole each night (243,288 rows for a night's 24,000
    on the bench year); with a literal it keeps the partitions from there on
    and takes the index on the time column for a few rows. Before the table
    exists (parse, `dbt compile`), the same as a scalar subquery.
-#}
{% macro evcap_latest_run_start(relation, time_column='interval_start') -%}
    {%- set first_rewritten -%}
        select min(rewritten.{{ time_column }})
        from {{ relation }} as rewritten
        where rewritten.rebuilt_at = {{ evcap_latest_rebuilt_at(relation) }}
    {%- endset -%}
    {%- if evcap_stored_relation(relation) is not none -%}
        {{ evcap_scalar_literal(first_rewritten) }}
    {%- else -%}
        ({{ first_rewritten }})
    {%- endif -%}
{%- endmacro %}


{#-
    The one value `query` returns, read now (run_query), as a SQL literal:
    quoted text cast to `sql_type`, or without it left to PostgreSQL to cast
    to the type of what it is compared with; null when there is no value.
-#}
{% macro evcap_scalar_literal(query, sql_type=none) -%}
    {%- set found = run_query(
        'select cast(found.value as text) from (' ~ query ~ ') as found (value)'
    ) -%}
    {%- set value = found.columns[0].values()[0] -%}
    {%- set literal = 'null' if value is none
        else "'" ~ (value | replace("'", "''")) ~ "'" -%}
    {%- if sql_type -%}
        cast({{ literal }} as {{ sql_type }})
    {%- else -%}
        {{ literal }}
    {%- endif -%}
{%- endmacro %}


{#-
    `relation` as the database holds it (dbt's relation cache), or none
    before it exists and while dbt parses (nothing is read then).
-#}
{% macro evcap_stored_relation(relation) -%}
    {%- if execute and relation.identifier is defined -%}
        {{ return(load_relation(relation)) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}


{#-
    The `rebuilt_at` (or the run stamp in `stamp_column`, e.g. the load
    cells' built_at) of the latest run of `relation`'s model, as SQL. When
    the model ran in this dbt invocation (`dbt build`: its tests run after
    it), this run's stamp, even if the run wrote no row: rows a run
    recomputes to the same values keep their older stamps (macros/
    evcap_incremental_replace_since.sql), so the newest stamp in the table
    can be an older run's, a full build's included, whose slice is
    everything. Otherwise (`dbt test` on its own) the newest stamp in the
    table. Read when the test runs (dbt compiles a test just before running
    it) and written into it as a literal: compared with a parameter,
    PostgreSQL takes the column's single common value (every row of a full
    build) as the estimate and scans every partition; compared with a
    literal the statistics show the latest run's rows as few and the index
    on rebuilt_at is used (energy test: 340 ms -> 8 ms on one year). Before
    the table exists (parse, `dbt compile`) or for a subquery, the newest
    stamp as a scalar subquery.
-#}
{% macro evcap_latest_rebuilt_at(relation, stamp_column='rebuilt_at') -%}
    {%- set stored = evcap_stored_relation(relation) -%}
    {%- if stored is not none and evcap_model_ran_in_this_run(stored) -%}
        {{ evcap_run_started_at() }}
    {%- elif stored is not none -%}
        {{ evcap_scalar_literal(
            'select max(' ~ stamp_column ~ ') from ' ~ stored, 'timestamptz'
        ) }}
    {%- else -%}
        (select max(latest.{{ stamp_column }}) from {{ relation }} as latest)
    {%- endif -%}
{%- endmacro %}


{#- True when the model stored as `relation` is selected in this dbt run. -#}
{% macro evcap_model_ran_in_this_run(relation) -%}
    {%- set found = namespace(selected=false) -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model'
            and node.alias == relation.identifier
            and node.schema == relation.schema
            and node.unique_id in selected_resources -%}
            {%- set found.selected = true -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found.selected) }}
{%- endmacro %}


{#-
    The rows a generic data test reads: all of `model`, or with
    `latest_run_only` the slice the latest run rewrote (a subquery), or with
    `latest_run_stamp` (a column holding the run_started_at of the run that
    wrote each row, for tables keyed by something other than time, e.g. the
    load cells' built_at) the rows the latest run wrote. dbt's own `where`
    config cannot reference the model itself, so the generic tests of this
    project take these arguments instead.
-#}
{% macro evcap_test_rows(model, latest_run_only=false, latest_run_stamp=none) -%}
    {%- if latest_run_stamp -%}
        (
            select *
            from {{ model }}
            where {{ latest_run_stamp }} = {{
                evcap_latest_rebuilt_at(model, latest_run_stamp)
            }}
        )
    {%- elif latest_run_only -%}
        (
            select *
            from {{ model }}
            where {{ evcap_latest_run_slice(model) }}
        )
    {%- else -%}
        {#- a subquery too: with a `where` config dbt passes `model` as an
            aliased subquery, which cannot take the caller's alias -#}
        (select * from {{ model }})
    {%- endif -%}
{%- endmacro %}


{#-
    When the current dbt run started (run_started_at, UTC), as a timestamptz:
    the `rebuilt_at` of every row a run writes. A macro so unit tests can
    override it with a constant (dbt renders a unit test's expected rows once
    at parse time, and partial parsing reuses them in later runs).
-#}
{% macro evcap_run_started_at() -%}
    cast('{{ run_started_at }}' as timestamptz)
{%- endmacro %}
