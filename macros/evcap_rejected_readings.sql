{#-
    Incremental bookkeeping of int_rejected_readings_counted (see the model).
-#}


{#- Per grid: a hash of its meter data sources (ids, meters, types, valid). -#}
{% macro evcap_data_sources_fingerprints() -%}
    select
        grid_id,
        md5(
            string_agg(
                concat_ws(
                    '|',
                    data_source_id,
                    element_id,
                    source_type,
                    valid_during
                ),
                ',' order by data_source_id
            )
        ) as sources_fingerprint
    from {{ ref('stg_edm__data_sources') }}
    where source_type in ('CONSUMER', 'PRODUCER')
    group by grid_id
{%- endmacro %}


{#-
    The first instant a grid is re-read from, as a SQL expression over a row
    `sources` (grid_id, sources_fingerprint: the grid's data sources now):
    the UTC day of its latest reading minus var('lookback_hours'). Null
    (read the grid whole) when the grid has no watermark yet or its data
    sources changed since.
-#}
{% macro evcap_rejected_readings_cutoff(sources, relation) -%}
    (
        select
            date_trunc(
                'day',
                watermark.last_at
                - interval '{{ var("lookback_hours") }} hours',
                'UTC'
            )
        from {{ relation }} as watermark
        where
            watermark.grid_id = {{ sources }}.grid_id
            and watermark.reject_reason is null
            and watermark.sources_fingerprint
            = {{ sources }}.sources_fingerprint
        order by watermark.rebuilt_at desc
        limit 1
    )
{%- endmacro %}


{#-
    Post-hook of int_rejected_readings_counted: after an incremental run
    appended the days it re-read, delete the older rows of those days (per
    grid, from the run's read_from on) and the rows of grids that have no
    data sources any more. Nothing on a first or full-refresh run.
-#}
{% macro evcap_delete_superseded_rejected_readings(relation) -%}
    {%- if is_incremental() -%}
        delete from {{ relation }} as stored
        where
            stored.rebuilt_at < {{ evcap_run_started_at() }}
            and (
                exists (
                    select 1 as superseded
                    from {{ relation }} as rewritten
                    where
                        rewritten.grid_id = stored.grid_id
                        and rewritten.reject_reason is null
                        and rewritten.rebuilt_at = {{ evcap_run_started_at() }}
                        and stored.day_start >= rewritten.read_from
                )
                or not exists (
                    select 1 as has_sources
                    from {{ ref('stg_edm__data_sources') }} as data_sources
                    where data_sources.grid_id = stored.grid_id
                )
            )
    {%- endif -%}
{%- endmacro %}
