{#-
    One row per grid: its local time zone (seed grid_timezones, else
    var('local_timezone')) and the length of the intervals its load is
    computed on (var('interval_minutes'), else the finest period among its
    data sources' latest readings, else one hour). An unknown time zone
    name stops the build with an error that names it.
-#}

{%- if execute %}
    {%- set zones = run_query(
        "select z.grid_id, z.local_timezone from (select cast(grid_id as text)"
        ~ " as grid_id, cast(local_timezone as text) as local_timezone from " ~ ref('grid_timezones')
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
            ~ " (seed grid_timezones or var local_timezone): use an IANA"
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

    select
        cast(grid_id as text) as grid_id,
        cast(local_timezone as text) as local_timezone
    from {{ ref('grid_timezones') }}

),

finest as (

    select
        grid_id,
        min(latest_period_s) as finest_period_s
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
        ) as interval_s
    from grids
    left join zones
        on grids.grid_id = zones.grid_id
    left join finest
        on grids.grid_id = finest.grid_id

)

select * from final
