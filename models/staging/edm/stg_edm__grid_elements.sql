with

source as (

    select * from {{ source('edm', 'grid_element') }}

),

renamed as (

    select
        grid_id,
        grid_element_id as element_id,
        type as element_type,
        customer_type,
        nullif(upper(trim(phases)), '') as phases,
        is_underground,
        is_producer,
        is_consumer,
        is_switchable,
        switch_is_open,
        coalesce(switch_is_open, false)
        or coalesce(
            lower(trim(meta ->> 'normally_open')) = 'true'
            or lower(trim(meta ->> 'normal_open')) = 'true'
            or lower(trim(meta ->> 'open')) = 'true',
            false
        ) as is_open,
        nullif(trim(upstream_grid_element_id), '') as upstream_element_id,
        nullif(trim(meta ->> 'voltage_level'), '') as voltage_level,
        nullif(trim(meta ->> 'installation_type'), '') as installation_type,
        nullif(
            trim(meta ->> 'parent_transformer_id'), ''
        ) as meta_parent_transformer_id,
        meta ->> 'rating_kva' as rating_kva_text,
        meta ->> 'secondary_voltage' as secondary_voltage_text,
        meta ->> 'primary_voltage' as primary_voltage_text,
        -- meta's coordinates, else the geometry's (PostGIS or WKT text)
        coalesce(
            meta ->> 'latitude',
            {{ evcap_geometry_coordinate(
                source('edm', 'grid_element'), 'geometry', 'y'
            ) }}
        ) as latitude_text,
        coalesce(
            meta ->> 'longitude',
            {{ evcap_geometry_coordinate(
                source('edm', 'grid_element'), 'geometry', 'x'
            ) }}
        ) as longitude_text,
        meta
    from source

),

typed as (

    select
        grid_id,
        element_id,
        element_type,
        customer_type,
        phases,
        is_underground,
        is_producer,
        is_consumer,
        is_switchable,
        switch_is_open,
        is_open,
        upstream_element_id,
        voltage_level,
        installation_type,
        meta_parent_transformer_id,
        rating_kva_text,
        secondary_voltage_text,
        primary_voltage_text,
        {{ evcap_parse_number('latitude_text') }} as latitude,
        {{ evcap_parse_number('longitude_text') }} as longitude,
        coalesce(element_type = 'Meter', false) as is_meter,
        coalesce(element_type = 'Transformer', false) as is_transformer,
        meta
    from renamed

)

select * from typed
