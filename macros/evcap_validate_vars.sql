{#-
    Every dbt var checked once, at run start, with one clear error listing
    every bad value (types, ranges, identifiers, time zone names), before any
    SQL reads them. One line per var: a new var is one more line.
    Kinds: boolean, number / integer (with an inclusive or exclusive range), identifier
    (a schema or role name: 1-63 characters, no quote or NUL), timezone (a
    name of pg_timezone_names), memory (a PostgreSQL memory size, e.g. 256MB).
    A nullable var may be null.
-#}
{% macro evcap_var_rules() -%}
    {#- (name, kind, low, high, low_open, nullable) -#}
    {{- return([
        ('edm_schema', 'identifier', none, none, false, false),
        ('local_timezone', 'timezone', none, none, false, false),
        ('power_factor', 'number', 0, 1, true, false),
        ('capacity_budget', 'number', 0, 1, false, false),
        ('headroom_quantile', 'number', 0, 1, false, false),
        ('min_meter_coverage', 'number', 0, 1, false, false),
        ('min_window_data_share', 'number', 0, 1, false, false),
        ('max_low_voltage_v', 'number', 0, none, true, false),
        ('coincidence_factor', 'number', 0, 1, true, false),
        ('lookback_hours', 'integer', 0, none, false, false),
        ('max_future_hours', 'integer', 0, none, false, false),
        ('heavy_work_mem', 'memory', none, none, false, false),
        ('bi_role', 'identifier', none, none, false, true),
        ('interval_minutes', 'integer', 0, 1440, true, true),
        ('max_service_kw', 'number', 0, none, true, false),
        ('thermal_hot_spot_limit_c', 'number', 0, none, true, false),
        ('thermal_top_oil_limit_c', 'number', 0, none, true, false),
        ('thermal_ageing_limit', 'number', 0, none, true, false),
        ('thermal_max_load_pu', 'number', 0, none, true, false),
        ('thermal_weather_data_source', 'identifier', none, none, false, true),
        ('thermal_weather_metric', 'identifier', none, none, false, false),
        ('evcap_readings_relation', 'identifier', none, none, false, true),
        ('evcap_citus', 'boolean', none, none, false, false),
    ]) -}}
{%- endmacro %}


{% macro evcap_var_problem(name, value, kind, low, high, low_open, nullable) -%}
    {%- set is_bool = value is sameas true or value is sameas false -%}
    {%- if value is none -%}
        {{- return('' if nullable else name ~ ' must be set') -}}
    {%- endif -%}
    {%- if kind == 'boolean' -%}
        {%- if not is_bool -%}
            {{- return(name ~ ' must be true or false, got ' ~ value) -}}
        {%- endif -%}
    {%- elif kind in ('number', 'integer') -%}
        {%- if is_bool or value is not number
            or (kind == 'integer' and value is not integer) -%}
            {{- return(name ~ ' must be ' ~ ('an integer' if kind == 'integer' else 'a number') ~ ', got ' ~ value) -}}
        {%- endif -%}
        {%- if value * 0 != 0 -%}
            {{- return(name ~ ' must be finite, got ' ~ value) -}}
        {%- endif -%}
        {%- set too_low = low is not none and (value < low or (low_open and value == low)) -%}
        {%- set too_high = high is not none and value > high -%}
        {%- if too_low or too_high -%}
            {{- return(name ~ ' must be in ' ~ ('(' if low_open else '[') ~ (low if low is not none else '-inf') ~ ', ' ~ (high if high is not none else 'inf') ~ ('], got ' if high is not none else '), got ') ~ value) -}}
        {%- endif -%}
    {%- elif value is not string -%}
        {{- return(name ~ ' must be text, got ' ~ value) -}}
    {%- elif kind == 'identifier' -%}
        {%- if value | length < 1 or value | length > 63 or '"' in value or "'" in value -%}
            {{- return(name ~ ' must be a name of 1-63 characters without quotes, got ' ~ value) -}}
        {%- endif -%}
    {%- elif kind == 'memory' -%}
        {%- if not modules.re.match('^[0-9]+ ?(kB|MB|GB|TB)?$', value) -%}
            {{- return(name ~ ' must be a memory size like 256MB, got ' ~ value) -}}
        {%- endif -%}
    {%- elif kind == 'timezone' -%}
        {%- if "'" in value -%}
            {{- return(name ~ ' is not a time zone name: ' ~ value) -}}
        {%- endif -%}
        {%- if execute -%}
            {%- set found = run_query("select 1 from pg_catalog.pg_timezone_names where name = '" ~ value ~ "'") -%}
            {%- if found.rows | length == 0 -%}
                {{- return(name ~ ' is not a time zone name of pg_timezone_names (e.g. America/Vancouver): ' ~ value) -}}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {{- return('') -}}
{%- endmacro %}


{#- on-run-start: all vars valid, and the target is never the EDM source. -#}
{% macro evcap_validate_vars() -%}
    {%- set problems = [] -%}
    {%- for name, kind, low, high, low_open, nullable in evcap_var_rules() -%}
        {%- set problem = evcap_var_problem(
            name, var(name, none), kind, low, high, low_open, nullable
        ) -%}
        {%- if problem -%}{%- do problems.append(problem) -%}{%- endif -%}
    {%- endfor -%}
    {%- if target.schema == var('edm_schema', 'edm') -%}
        {%- do problems.append(
            'the target schema ' ~ target.schema
            ~ ' is the EDM source schema: evcap never writes to its source;'
            ~ ' choose another target (--schema / EVCAP_SCHEMA)'
        ) -%}
    {%- endif -%}
    {#- At run time only, so that the time zone (a query) is checked too. -#}
    {%- if problems and execute -%}
        {{- exceptions.raise_compiler_error(
            'invalid evcap vars: ' ~ (problems | join('; '))
            ~ ' (set them with --var NAME=VALUE or in dbt_project.yml)'
        ) -}}
    {%- endif -%}
    select 1
{%- endmacro %}
