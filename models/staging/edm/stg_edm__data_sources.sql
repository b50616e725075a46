{#-
    One row per time-series data source, renamed. max_service_kw is the
    highest average kW the source's service can draw: the meter's
    meta.max_service_kw when it is a positive number, else
    var('max_service_kw'); a reading above it is rejected
    (implausible_value, macros/evcap_meter_readings.sql).
-#}

with

source as (

    select * from {{ source('edm', 'grid_element_data_source') }}

),

element_limits as (

    select
        grid_id,
        grid_element_id as element_id,
        {{ evcap_parse_number("meta ->> 'max_service_kw'") }}
            as max_service_kw
    from {{ source('edm', 'grid_element') }}
    where meta ? 'max_service_kw'

),

renamed as (

    select
        source.grid_element_data_source_id as data_source_id,
        source.grid_id,
        source.grid_element_id as element_id,
        source.type as source_type,
        source.provider,
        source.direction,
        source.friendly_id,
        source.phases,
        source.metrics,
        coalesce('kWh' = any(source.metrics), false) as has_kwh_metric,
        coalesce(source.valid, tstzrange(null, null)) as valid_during,
        cast(
            coalesce(
                case
                    when element_limits.max_service_kw > 0
                        then element_limits.max_service_kw
                end,
                {{ var('max_service_kw') }}
            ) as float8
        ) as max_service_kw
    from source
    left join element_limits
        on
            source.grid_id = element_limits.grid_id
            and source.grid_element_id = element_limits.element_id

)

select * from renamed
