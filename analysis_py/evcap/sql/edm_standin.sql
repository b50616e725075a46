-- evcap stand-in of the Awesense Energy Data Model (EDM).
-- Same table names, columns and functions as the real schema (DESIGN.md §1),
-- so the dbt models never know which one they read. Rendered by
-- evcap.edm_standin with {schema} and {geometry_type} substituted (identifiers
-- quoted by psycopg.sql, never by string concatenation of user input).

create schema {schema};

create table {schema}.evcap_standin (
    installed_at timestamptz not null default now(),
    version text not null
);

create table {schema}.grid (
    grid_id text primary key,
    description text,
    last_updated timestamptz
);

create table {schema}.grid_element (
    grid_id text not null references {schema}.grid (grid_id),
    grid_element_id text not null,
    type text,
    customer_type text,
    phases text,
    is_underground boolean,
    is_producer boolean,
    is_consumer boolean,
    is_switchable boolean,
    switch_is_open boolean,
    terminal1_cn text,
    terminal2_cn text,
    power_flow_direction text,
    upstream_grid_element_id text,
    geometry {geometry_type},
    meta jsonb,
    primary key (grid_id, grid_element_id)
);

create index on {schema}.grid_element (grid_id, upstream_grid_element_id);

create table {schema}.grid_element_data_source (
    grid_element_data_source_id uuid primary key,
    grid_id text not null,
    grid_element_id text not null,
    type text,
    provider text,
    direction text,
    friendly_id text,
    phases text,
    metrics text [],
    valid tstzrange,
    foreign key (grid_id, grid_element_id)
    references {schema}.grid_element (grid_id, grid_element_id)
);

create index on {schema}.grid_element_data_source (grid_id, grid_element_id);

-- Internal storage of the stand-in. Real EDM keeps readings elsewhere; the
-- dbt models read them only through ts_data_source_select(). No primary key:
-- real feeds deliver duplicates and late corrections (a later `received_at`).
create table {schema}.ts_data_source_reading (
    data_source_id uuid not null,
    metric text not null,
    ts timestamptz not null,
    value double precision,
    period_s integer not null,
    received_at timestamptz not null
);

create index ts_data_source_reading_lookup
on {schema}.ts_data_source_reading (data_source_id, metric, ts);

create type {schema}.ts_data_source_double as (
    "timestamp" timestamptz,
    value double precision,
    period integer,
    received timestamptz
);

-- Set-returning SQL function, STABLE and not STRICT so the planner inlines it
-- into `cross join lateral` and uses the index below.
create function {schema}.ts_data_source_select(
    id uuid, metric_key text, timerange tstzrange default null
) returns setof {schema}.ts_data_source_double
language sql stable parallel safe as $fn$
    select r.ts, r.value, r.period_s, r.received_at
    from {schema}.ts_data_source_reading as r
    where r.data_source_id = $1
      and r.metric = $2
      and ($3 is null or r.ts <@ $3)
$fn$;

-- Everything fed from an element (within its grid), following
-- upstream_grid_element_id downwards; `union` stops at cycles.
create function {schema}.grid_get_downstream(
    grid_id text, grid_element_id text, include_self boolean default true
) returns setof {schema}.grid_element
language sql stable as $fn$
    with recursive downstream (element_id) as (
        select ge.grid_element_id
        from {schema}.grid_element as ge
        where ge.grid_id = $1 and ge.grid_element_id = $2
        union
        select child.grid_element_id
        from downstream as d
        inner join {schema}.grid_element as child
            on child.grid_id = $1
            and child.upstream_grid_element_id = d.element_id
    )
    select ge.*
    from {schema}.grid_element as ge
    inner join downstream as d
        on ge.grid_element_id = d.element_id
    where ge.grid_id = $1 and ($3 or ge.grid_element_id <> $2)
$fn$;
