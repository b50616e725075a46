{#-
    evcap on Citus (distributed PostgreSQL), README "Running on Citus".

    The same models run on a single PostgreSQL node and on a Citus cluster.
    dbt-postgres creates plain tables on the coordinator; on Citus (target
    `citus`, or var `evcap_citus: true`) the post-hook evcap_citus_layout
    lays each table out from its config `meta.evcap_distribution`:

        reference                                  -> create_reference_table
        {column: transformer_id,
         colocate_with: fct_transformer_load}      -> create_distributed_table

    Everywhere else (plain PostgreSQL) every macro here is a no-op.
-#}


{#- True when the target is a Citus coordinator. -#}
{% macro evcap_is_citus() -%}
    {{ return(target.name == 'citus' or var('evcap_citus', false)) }}
{%- endmacro %}


{#-
    The readings relation of the distributed source contract
    (docs/CONTRACT.md): var('evcap_readings_relation'), a table or view with
    columns data_source_id uuid, metric text, ts timestamptz, value float8,
    period_s integer, received_at timestamptz, distributed by data_source_id.
    none = read the EDM function ts_data_source_select (single node). On
    Citus the function cannot be called per data source (a LATERAL call over
    a distributed table does not push down), so the var is required there.
-#}
{% macro evcap_readings_relation() -%}
    {%- set relation = var('evcap_readings_relation', none) -%}
    {%- if relation is none and evcap_is_citus() -%}
        {{ exceptions.raise_compiler_error(
            "On Citus evcap reads readings from a relation, not through "
            ~ "ts_data_source_select per data source: set the dbt var "
            ~ "evcap_readings_relation (docs/CONTRACT.md, distributed source "
            ~ "contract), e.g. --vars '{evcap_readings_relation: "
            ~ "edm.ts_data_source_reading}'"
        ) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}


{#-
    Post-hook: distribute `relation` as its config meta.evcap_distribution
    says, once (a table dbt kept, e.g. an incremental one, is left as it is).
    Views and models without the config are left alone.
-#}
{% macro evcap_citus_layout(relation) -%}
    {%- set layout = (config.get('meta') or {}).get('evcap_distribution') -%}
    {%- if evcap_is_citus() and layout and config.get('materialized') != 'view' -%}
        {%- if layout == 'reference' -%}
            {%- set call -%}
                create_reference_table('{{ relation }}')
            {%- endset -%}
        {%- else -%}
            {%- set colocate = layout.get('colocate_with') -%}
            {%- set call -%}
                create_distributed_table(
                    '{{ relation }}',
                    '{{ layout["column"] }}'
                    {%- if colocate %},
                    colocate_with => '{{ relation.schema }}.{{ colocate }}'
                    {%- endif %}
                )
            {%- endset -%}
        {%- endif -%}
        do $evcap_citus$
        begin
            if not exists (
                select 1 from pg_dist_partition
                where logicalrelid = '{{ relation }}'::regclass
            ) then
                perform {{ call }};
            end if;
        end
        $evcap_citus$;
        {%- if config.get('evcap_citus_keep_previous', false) %}
            drop table if exists {{ evcap_citus_previous(relation) }};
        {%- endif %}
        {#- an outside-transaction hook runs in a driver-opened transaction -#}
        commit
    {%- endif -%}
{%- endmacro %}


{#-
    Pre-hook outside the model's transaction, on Citus, for models dbt
    rebuilds as a new table (materialized 'table', or 'incremental' on a
    full refresh): drop the old Citus table first (and tell dbt's relation
    cache). dbt would otherwise rename it in the same transaction that has
    just read co-located placements (the marts read the load table
    int_transformer_loads_rolled_up; reference tables are all one
    co-location group) over parallel connections, which Citus refuses
    ("cannot perform DDL on placement ... read over multiple connections").
    The price: while the model rebuilds, and if it fails, the table is
    missing (no swap).
-#}
{% macro evcap_citus_before_rebuild(relation) -%}
    {%- set materialized = config.get('materialized') -%}
    {%- if evcap_is_citus() and execute and (
        materialized == 'table'
        or (materialized == 'incremental' and should_full_refresh())
    ) -%}
        {%- set existing = load_cached_relation(relation) -%}
        {%- if existing is not none -%}
            {%- if config.get('evcap_citus_keep_previous', false) %}
                {%- set kept = evcap_citus_previous(existing) %}
                drop table if exists {{ kept }};
                create table {{ kept }} as select * from {{ existing }};
            {%- endif %}
            drop table if exists {{ existing }} cascade;
            {%- if materialized == 'incremental' %}
                {#-
                    dbt's incremental materialization looked the table up
                    before this hook and renames it to its backup: a plain
                    placeholder takes the rename (the backup is dropped by
                    evcap_partition_by_month, or by dbt).
                -#}
                create table {{ existing }} (evcap_placeholder integer);
            {%- else %}
                {%- do adapter.cache_dropped(existing) -%}
            {%- endif %}
            commit
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#-
    The relation a model reads its own previous rows from: itself on one
    node; on Citus, for a model with config evcap_citus_keep_previous, the
    copy <name>__previous that evcap_citus_before_rebuild made before it
    dropped the old table (evcap_citus_layout drops the copy afterwards).
-#}
{% macro evcap_citus_previous(relation) -%}
    {%- if evcap_is_citus() -%}
        {{ return(relation.incorporate(
            path={'identifier': relation.identifier ~ '__previous'}
        )) }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}


{#-
    The latest version of every reading of `metric_key` of every data
    source, from the readings relation, as a subquery to join on
    data_source_id (no LATERAL): on Citus the dedupe runs on the shards (the
    DISTINCT ON holds the distribution column). Same winner rules as
    evcap_latest_readings. Columns: data_source_id, interval_start,
    period_s, energy_kwh, received_at. `lower_bound` (optional SQL
    expression of a timestamptz) keeps intervals from then on; all versions
    of an interval share its timestamp, so it never changes a winner.
-#}
{% macro evcap_readings_from_relation(metric_key='kWh', lower_bound=none) -%}
    (
        select
            latest.data_source_id,
            latest.interval_start,
            latest.period_s,
            latest.energy_kwh,
            latest.received_at
        from (
            select distinct on (ts.data_source_id, ts.ts)
                ts.data_source_id,
                ts.ts as interval_start,
                ts.period_s,
                ts.value as energy_kwh,
                ts.received_at
            from {{ evcap_readings_relation() }} as ts
            where
                ts.metric = '{{ metric_key }}'
                {%- if lower_bound is not none %}
                    and ts.ts >= {{ lower_bound }}
                {%- endif %}
            order by
                ts.data_source_id asc,
                ts.ts asc,
                ts.received_at desc nulls last,
                ts.value desc nulls last,
                ts.period_s asc
        ) as latest
    )
{%- endmacro %}


{#-
    The roll-up's first step (fct_transformer_load's `fed`) from the readings
    relation: one plain join + GROUP BY per (feeding transformer, interval).
    On Citus it runs on the workers (per-shard partial aggregates, merged on
    the coordinator), where the per-transformer LATERAL of the function path
    cannot be pushed down. `data_sources` has feeding_key, data_source_id,
    is_consumer, valid_during and, with `cutoffs`, a per-grid cut-off in
    column starting_at (incremental runs).
-#}
{% macro evcap_fed_from_readings_relation(data_sources, cutoffs=false) -%}
    select
        per_reading.feeding_key,
        per_reading.interval_start,
        max(per_reading.period_s) filter (
            where per_reading.avg_kw is not null
        ) as period_s,
        sum(per_reading.avg_kw) filter (
            where per_reading.is_consumer
        ) as consumer_kw,
        sum(per_reading.avg_kw) filter (
            where not per_reading.is_consumer
        ) as producer_kw,
        cast(
            count(per_reading.avg_kw) filter (
                where per_reading.is_consumer
            ) as integer
        ) as meters_reporting
    from (
        select
            sources.feeding_key,
            sources.is_consumer,
            readings.interval_start,
            readings.period_s,
            case
                when {{ evcap_reading_is_valid(
                    'readings.energy_kwh',
                    'readings.period_s',
                    'readings.interval_start',
                    'sources.valid_during'
                ) }}
                    then {{ evcap_average_kw(
                        'readings.energy_kwh', 'readings.period_s'
                    ) }}
            end as avg_kw
        from {{ data_sources }} as sources
        inner join
            {{ evcap_readings_from_relation(
                'kWh',
                lower_bound=(
                    '(select min(cutoffs.starting_at) from '
                    ~ data_sources ~ ' as cutoffs)' if cutoffs else none
                ),
            ) }} as readings
            on sources.data_source_id = readings.data_source_id
        {%- if cutoffs %}
            where readings.interval_start >= sources.starting_at
        {%- endif %}
    ) as per_reading
    group by per_reading.feeding_key, per_reading.interval_start
    -- rows only where at least one reading is valid
    having count(per_reading.avg_kw) > 0
{%- endmacro %}


{#-
    Latest built interval_start per grid of an incremental table, for the
    per-grid cut-offs. On one node a backwards index walk per grid (LATERAL
    ... LIMIT 1); on Citus, where a LATERAL into a distributed table does not
    push down, one max() per grid computed on the shards. Use as
    `left join {{ evcap_latest_built_per_grid(this, 'grids') }} as built
    on ...` with the join condition from evcap_latest_built_join().
-#}
{% macro evcap_latest_built_per_grid(relation, grids) -%}
    {%- if evcap_is_citus() -%}
        (
            select
                loaded.grid_id,
                max(loaded.interval_start) as latest_start
            from {{ relation }} as loaded
            group by loaded.grid_id
        )
    {%- else -%}
        lateral (
            {#- backwards along the unique index: one row per grid -#}
            select loaded.interval_start as latest_start
            from {{ relation }} as loaded
            where loaded.grid_id = {{ grids }}.grid_id
            order by loaded.interval_start desc
            limit 1
        )
    {%- endif -%}
{%- endmacro %}


{% macro evcap_latest_built_join(grids, built) -%}
    {%- if evcap_is_citus() -%}
        {{ grids }}.grid_id = {{ built }}.grid_id
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#-
    The latest stored row (interval_start, meter_set_id) of every
    transformer of an incremental load table, for the roll-up's per
    transformer cut-offs. On one node a backwards walk along the unique
    index per transformer (LATERAL ... LIMIT 1); on Citus, where a LATERAL
    into a distributed table does not push down, one DISTINCT ON per
    (grid_id, transformer_id) computed on the shards (it holds the
    distribution column). Use as `left join {{
    evcap_latest_load_per_transformer(this, 'sets') }} as latest on {{
    evcap_latest_load_join('sets', 'latest') }}`; `sets` has grid_id and
    transformer_id.
-#}
{% macro evcap_latest_load_per_transformer(relation, sets) -%}
    {%- if evcap_is_citus() -%}
        (
            select distinct on (loaded.grid_id, loaded.transformer_id)
                loaded.grid_id,
                loaded.transformer_id,
                loaded.interval_start,
                loaded.meter_set_id
            from {{ relation }} as loaded
            order by
                loaded.grid_id asc,
                loaded.transformer_id asc,
                loaded.interval_start desc
        )
    {%- else -%}
        lateral (
            {#- backwards along the unique index: one row per transformer -#}
            select
                loaded.interval_start,
                loaded.meter_set_id
            from {{ relation }} as loaded
            where
                loaded.grid_id = {{ sets }}.grid_id
                and loaded.transformer_id = {{ sets }}.transformer_id
            order by loaded.interval_start desc
            limit 1
        )
    {%- endif -%}
{%- endmacro %}


{% macro evcap_latest_load_join(sets, latest) -%}
    {%- if evcap_is_citus() -%}
        {{ sets }}.grid_id = {{ latest }}.grid_id
        and {{ sets }}.transformer_id = {{ latest }}.transformer_id
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#-
    The oldest stored meter_set_id of every transformer of the load table
    (evcap_delete_stale_loads), by the same two routes: an index probe per
    transformer on one node, a DISTINCT ON on the shards on Citus. Columns:
    grid_id, transformer_id, meter_set_id (the stored one) and
    current_meter_set_id (int_transformer_meter_sets'), only where they
    differ.
-#}
{% macro evcap_changed_meter_sets(relation) -%}
    {%- if evcap_is_citus() -%}
        select
            sets.grid_id,
            sets.transformer_id,
            sets.meter_set_id
        from {{ ref('int_transformer_meter_sets') }} as sets
        inner join (
            select distinct on (oldest_row.grid_id, oldest_row.transformer_id)
                oldest_row.grid_id,
                oldest_row.transformer_id,
                oldest_row.meter_set_id
            from {{ relation }} as oldest_row
            order by
                oldest_row.grid_id asc,
                oldest_row.transformer_id asc,
                oldest_row.interval_start asc
        ) as oldest
            on
                sets.grid_id = oldest.grid_id
                and sets.transformer_id = oldest.transformer_id
        where oldest.meter_set_id <> sets.meter_set_id
    {%- else -%}
        select
            sets.grid_id,
            sets.transformer_id,
            sets.meter_set_id
        from {{ ref('int_transformer_meter_sets') }} as sets
        cross join lateral (
            select oldest_row.meter_set_id
            from {{ relation }} as oldest_row
            where
                oldest_row.grid_id = sets.grid_id
                and oldest_row.transformer_id = sets.transformer_id
            order by oldest_row.interval_start asc
            limit 1
        ) as oldest
        where oldest.meter_set_id <> sets.meter_set_id
    {%- endif -%}
{%- endmacro %}


{#-
    The latest reading of every data source from the readings relation
    (int_data_source_latest_readings on Citus): the latest interval stamped
    no later than the plausible future with a positive period, one
    DISTINCT ON per data source on the shards. Of several versions of that
    interval the winner of evcap_latest_readings gives period and
    received_at. Columns: data_source_id, interval_start, period_s,
    received_at.
-#}
{% macro evcap_latest_reading_per_source(metric_key='kWh') -%}
    (
        select distinct on (ts.data_source_id)
            ts.data_source_id,
            ts.ts as interval_start,
            ts.period_s,
            ts.received_at
        from {{ evcap_readings_relation() }} as ts
        where
            ts.metric = '{{ metric_key }}'
            and ts.ts <= {{ evcap_latest_plausible_time() }}
            and ts.period_s > 0
        order by
            ts.data_source_id asc,
            ts.ts desc,
            ts.received_at desc nulls last,
            ts.value desc nulls last,
            ts.period_s asc
    )
{%- endmacro %}
