{#-
    One row per element of type 'Transformer', including those with unusable
    nameplate data (data_issues says why). Effective rating, power factor and
    capacity budget take seed transformer_overrides into account.
-#}

with

elements as (

    select * from {{ ref('stg_edm__grid_elements') }}
    where is_transformer

),

nameplates as (

    select * from {{ ref('int_transformer_nameplates_parsed') }}

),

nested as (

    select * from {{ ref('int_transformers_nested') }}

),

meter_map as (

    select * from {{ ref('int_meters_mapped_to_transformers') }}

),

overrides as (

    select * from {{ ref('transformer_overrides') }}

),

meter_counts as (

    select
        grid_id,
        transformer_id,
        count(*) filter (where is_placed and level = 1) as meters_direct,
        count(*) filter (where is_placed) as meters_total,
        count(*) filter (where not is_placed) as meters_unplaced
    from meter_map
    group by grid_id, transformer_id

),

rated as (

    select
        elements.grid_id,
        elements.element_id as transformer_id,
        elements.voltage_level,
        nameplates.is_distribution,
        elements.phases,
        nameplates.phase_count,
        case
            when overrides.rating_kva > 0 then overrides.rating_kva
            when nameplates.rating_kva_status = 'ok' then nameplates.rating_kva
        end as rating_kva,
        case
            when overrides.rating_kva > 0 then 'override'
            when nameplates.rating_kva_status = 'ok' then 'meta'
        end as rating_kva_source,
        nameplates.secondary_voltage_v,
        nameplates.primary_voltage_v,
        elements.installation_type,
        elements.latitude,
        elements.longitude,
        nested.parent_transformer_id as upstream_transformer_id,
        nested.depth,
        coalesce(meter_counts.meters_direct, 0) as meters_direct,
        coalesce(meter_counts.meters_total, 0) as meters_total,
        coalesce(meter_counts.meters_unplaced, 0) as meters_unplaced,
        coalesce(
            overrides.power_factor, {{ var('power_factor') }}
        ) as power_factor,
        coalesce(
            overrides.capacity_budget, {{ var('capacity_budget') }}
        ) as capacity_budget,
        array_remove(
            array[
                case
                    when nameplates.rating_kva_status <> 'ok'
                        then 'rating_' || nameplates.rating_kva_status
                end,
                case
                    when nameplates.secondary_voltage_status <> 'ok'
                        then
                            'secondary_voltage_'
                            || nameplates.secondary_voltage_status
                end,
                case
                    when nameplates.phases_status <> 'ok'
                        then 'phases_' || nameplates.phases_status
                end,
                case
                    when nameplates.voltage_level_status = 'unparseable'
                        then 'voltage_level_unparseable'
                end,

                case
                    when coalesce(meter_counts.meters_total, 0) = 0
                        then 'no_meters_downstream'
                end,
                case when nested.is_in_cycle then 'topology_cycle' end,
                case
                    when coalesce(meter_counts.meters_unplaced, 0) > 0
                        then 'unplaced_meters'
                end
            ],
            null
        ) as issues
    from elements
    inner join nameplates
        on
            elements.grid_id = nameplates.grid_id
            and elements.element_id = nameplates.transformer_id
    inner join nested
        on
            elements.grid_id = nested.grid_id
            and elements.element_id = nested.transformer_id
    left join meter_counts
        on
            elements.grid_id = meter_counts.grid_id
            and elements.element_id = meter_counts.transformer_id
    left join overrides
        on
            elements.grid_id = overrides.grid_id
            and elements.element_id = overrides.transformer_id

),

final as (

    select
        grid_id,
        transformer_id,
        voltage_level,
        is_distribution,
        phases,
        phase_count,
        cast(rating_kva as float8) as rating_kva,
        rating_kva_source,
        cast(secondary_voltage_v as float8) as secondary_voltage_v,
        cast(primary_voltage_v as float8) as primary_voltage_v,
        installation_type,
        cast(latitude as float8) as latitude,
        cast(longitude as float8) as longitude,
        upstream_transformer_id,
        cast(depth as integer) as depth,
        cast(meters_direct as integer) as meters_direct,
        cast(meters_total as integer) as meters_total,
        cast(meters_unplaced as integer) as meters_unplaced,
        cast(power_factor as float8) as power_factor,
        cast(rating_kva * power_factor as float8) as capacity_kw,
        cast(capacity_budget as float8) as capacity_budget,
        rating_kva is not null as has_valid_rating,
        nullif(array_to_string(issues, '; '), '') as data_issues
    from rated

)

select * from final
