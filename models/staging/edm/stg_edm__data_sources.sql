with

source as (

    select * from {{ source('edm', 'grid_element_data_source') }}

),

renamed as (

    select
        grid_element_data_source_id as data_source_id,
        grid_id,
        grid_element_id as element_id,
        type as source_type,
        provider,
        direction,
        friendly_id,
        phases,
        metrics,
        coalesce('kWh' = any(metrics), false) as has_kwh_metric,
        coalesce(valid, tstzrange(null, null)) as valid_during
    from source

)

select * from renamed
