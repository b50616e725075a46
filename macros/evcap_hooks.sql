{#-
    Memory for one heavy model's transaction (DESIGN.md section 5). On Citus
    the SET LOCAL commands of the transaction are sent on to the workers,
    where the heavy aggregates run (macros/evcap_citus.sql).
-#}
{% macro evcap_set_work_mem() -%}
    {%- if evcap_is_citus() -%}
        set local citus.propagate_set_commands = 'local';
    {% endif -%}
    set local work_mem = '{{ var("heavy_work_mem") }}'
{%- endmacro %}


{#-
    on-run-end: usage on the target schema for var('bi_role'), so the
    select grants of the marts (dbt `grants:` config) can be used. Nothing
    when the var is null.
-#}
{% macro evcap_grant_schema_usage() -%}
    {%- set role = var('bi_role', none) -%}
    {%- if role -%}
        grant usage on schema {{ adapter.quote(target.schema) }}
        to {{ adapter.quote(role) }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#-
    For a model that joins and groups whole tables by keys whose row counts
    the planner cannot estimate (an incremental model's changed rows, found
    by comparing two aggregates, joined back on several correlated keys:
    seen estimated at 1,229 rows for 1.1 M): hash joins and hash aggregates
    for the model's transaction, whatever the estimates. Without it the
    planner chose index nested loops over the whole cells table (11 s) or
    one sort of every load (7 s) where hashing takes well under a second.
    A LATERAL unnest stays a nested loop (it has no other plan).
-#}
{% macro evcap_prefer_hash_plans() -%}
    set local enable_sort = off;
    set local enable_mergejoin = off;
    set local enable_nestloop = off
{%- endmacro %}


{#-
    Fresh statistics for a model after it is built. An incremental run only
    adds the latest intervals to a large table: re-sampling all of it would
    cost more than computing them (DESIGN.md section 5), so it is left to
    autovacuum's analyze there. Views have no statistics; a model
    partitioned by evcap_partition_by_month is analyzed by that hook.
-#}
{% macro evcap_analyze(relation) -%}
    {%- if config.get('materialized') == 'view'
        or config.get('evcap_partition_by_month', false) -%}
    {%- elif not is_incremental() -%}
        analyze {{ relation }}
    {%- endif -%}
{%- endmacro %}


{#-
    The roll-up's cost estimates (millions of readings behind a function)
    cross jit_above_cost on every run; compiling its expressions costs
    seconds and saves less. Off for the heavy models' transactions (the
    roll-up, the load cells and the marts built from them).
-#}
{% macro evcap_disable_jit() -%}
    set local jit = off
{%- endmacro %}
