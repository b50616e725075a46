{{
    config(
        indexes=[
            {'columns': ['grid_id'], 'unique': true},
        ],
    )
}}

{#-
    One row per grid: its local time zone (var('grid_timezones'), a mapping
    grid_id -> zone, else seed grid_timezones, else var('local_timezone')) and the length of the intervals its load is
    computed on (var('interval_minutes'), else the finest period among its
    data sources' latest readings, else one hour), and the longest period
    among those (an incremental roll-up reads that much before a cut-off,
    so a long reading is spread whole). An unknown time zone
    name stops the build with an error that names it.
-#}

{%- set var_zones = var('grid_timezones', {}) or {} %}
{%- set var_zones_sql -%}
    select
        cast(null as text) as grid_id,
        cast(null as text) as local_timezone
    where false
    {%- for grid_id, zone in var_zones.items() %}
        union all
        select
            {{ evcap_text_literal(grid_id) }},
            {{ evcap_text_literal(zone) }}
    {%- endfor %}
{%- endset %}

{%- if execute %}
    {%- set seed = ref('grid_timezones') %}
    {%- set seed_exists = adapter.get_relation(
        seed.database, seed.schema, seed.identifier
    ) is not none %}
    {%- set listed_sql = var_zones_sql ~ (
        " union all select cast(grid_id as text), cast(local_timezone as text)"
        ~ " from " ~ seed if seed_exists else ""
    ) %}
    {%- set zones = run_query(
        "select z.grid_id, z.local_timezone from (" ~ listed_sql
        ~ ") as z where z.local_timezone is null or not exists ("
        ~ " select 1 from pg_timezone_names as n"
        ~ " where n.name = z.local_timezone)"
        ~ " union all select '(var local_timezone)', name from"
        ~ " (select cast('" ~ var('local_timezone') | replace("'", "''")
        ~ "' as text) as name) as v where not exists ("
        ~ " select 1 from pg_timezone_names as n where n.name = v.name)"
    ) %}
    {%- if zones.rows | length > 0 %}
        {%- set row = zones.rows[0] %}
        {{ exceptions.raise_compiler_error(
            "Unknown time zone '" ~ row[1] ~ "' for grid " ~ row[0]
            ~ " (var grid_timezones, seed grid_timezones or var local_timezone): use an IANA"
            ~ " name such as 'America/Vancouver' (select name from"
            ~ " pg_timezone_names lists them)."
        ) }}
    {%- endif %}
{%- endif %}

with

grids as (

    select grid_id from {{ source('edm', 'grid') }}
    union
    select distinct grid_id from {{ ref('int_data_source_latest_readings') }}

),

zones as (

    select distinct on (grid_id)
        grid_id,
        local_timezone
    from (
        select
            grid_id,
            local_timezone,
            1 as priority
        from ({{ var_zones_sql }}) as from_vars
        union all
        select
            cast(grid_id as text) as grid_id,
            cast(local_timezone as text) as local_timezone,
            2 as priority
        from {{ ref('grid_timezones') }}
    ) as listed
    order by grid_id asc, priority asc

),

finest as (

    select
        grid_id,
        min(latest_period_s) as finest_period_s,
        max(latest_period_s) as longest_period_s
    from {{ ref('int_data_source_latest_readings') }}
    group by grid_id

),

final as (

    select
        grids.grid_id,
        cast(
            coalesce(zones.local_timezone, '{{ var("local_timezone") }}')
            as text
        ) as local_timezone,
        cast(
            coalesce(
                {{ var('interval_minutes') or 'null' }} * 60,
                finest.finest_period_s,
                3600
            ) as integer
        ) as interval_s,
        cast(coalesce(finest.longest_period_s, 3600) as integer)
            as longest_period_s
    from grids
    left join zones
        on grids.grid_id = zones.grid_id
    left join finest
        on grids.grid_id = finest.grid_id

)

select * from final
