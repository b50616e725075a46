{#-
    Longitude (axis 'x') or latitude (axis 'y') of an EDM geometry, as text,
    for elements whose meta has no coordinates. A real EDM stores PostGIS
    geometry(Geometry,4326): ST_X / ST_Y of a point on it. The stand-in on a
    server without PostGIS stores WKT text ('POINT(lon lat)', optionally
    'SRID=4326;'): read from the text. The column's type is looked up when
    the model runs (at parse time the text form is rendered).
-#}
{% macro evcap_geometry_coordinate(relation, column, axis) -%}
    {%- set postgis = false -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select format_type(a.atttypid, a.atttypmod) from pg_attribute a"
            ~ " where a.attrelid = to_regclass(format('%I.%I', '"
            ~ relation.schema ~ "', '" ~ relation.identifier ~ "'))"
            ~ " and a.attname = '" ~ column ~ "' and not a.attisdropped"
        ) -%}
        {%- if found.rows | length > 0 and found.rows[0][0] is string
            and found.rows[0][0].startswith('geometry') -%}
            {%- set postgis = true -%}
        {%- endif -%}
    {%- endif -%}
    {%- if postgis -%}
        cast(
            st_{{ axis }}(st_pointonsurface({{ column }})) as text
        )
    {%- else -%}
        (regexp_match(
            cast({{ column }} as text),
            '^\s*(?:SRID=\d+;)?\s*POINT\s*\(\s*(\S+)\s+([^\s)]+)',
            'i'
        ))[{{ 1 if axis == 'x' else 2 }}]
    {%- endif -%}
{%- endmacro %}
