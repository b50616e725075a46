{#-
    How many chargers of one type fit on a transformer in a charging window:
    floor(firm headroom / (coincidence factor x charger kW)), and 0 with a
    reason when the transformer has no rating, no data in the window, too
    little data in the window to trust (window_headroom.data_sufficient), a
    medium-voltage secondary (above var('max_low_voltage_v'): chargers
    connect at low voltage), a secondary voltage below the charger's, too few phases, or too little
    headroom. Reasons are checked in that order. An unknown secondary voltage
    or phase set does not block a count (voltage_ok / phase_ok are null and
    dim_transformers.data_issues says so).
-#}

with

window_headroom as (

    select * from {{ ref('transformer_window_headroom') }}

),

transformers as (

    select
        grid_id,
        transformer_id,
        rating_kva,
        secondary_voltage_v,
        phases,
        (
            case when phases like '%A%' then 1 else 0 end
            + case when phases like '%B%' then 1 else 0 end
            + case when phases like '%C%' then 1 else 0 end
        ) as phase_count
    from {{ ref('dim_transformers') }}

),

charger_types as (

    select * from {{ ref('charger_types') }}

),

checked as (

    select
        window_headroom.grid_id,
        window_headroom.transformer_id,
        window_headroom.window_name,
        charger_types.charger_type,
        charger_types.power_kw as charger_power_kw,
        charger_types.voltage_v as charger_voltage_v,
        charger_types.phases_required as charger_phases_required,
        window_headroom.firm_headroom_kw,
        cast({{ var('coincidence_factor') }} as float8) as coincidence_factor,
        charger_types.voltage_v <= transformers.secondary_voltage_v
        and transformers.secondary_voltage_v
        <= {{ var('max_low_voltage_v') }} as voltage_ok,
        case
            when transformers.phases is not null
                then transformers.phase_count >= charger_types.phases_required
        end as phase_ok,
        case
            when transformers.rating_kva is null then 'missing_rating'
            when window_headroom.intervals_used = 0 then 'no_data_in_window'
            when not window_headroom.data_sufficient
                then 'insufficient_data_in_window'
            when
                transformers.secondary_voltage_v
                > {{ var('max_low_voltage_v') }}
                then 'secondary_not_low_voltage'
            when charger_types.voltage_v > transformers.secondary_voltage_v
                then 'voltage_above_secondary'
            when
                transformers.phases is not null
                and transformers.phase_count < charger_types.phases_required
                then 'needs_three_phase'
            when window_headroom.firm_headroom_kw <= 0 then 'no_headroom'
            when
                floor(
                    window_headroom.firm_headroom_kw
                    / ({{ var('coincidence_factor') }} * charger_types.power_kw)
                    + 1e-9
                ) < 1
                then 'headroom_below_one_charger'
        end as reason
    from window_headroom
    inner join transformers
        on
            window_headroom.grid_id = transformers.grid_id
            and window_headroom.transformer_id = transformers.transformer_id
    cross join charger_types

),

final as (

    select
        grid_id,
        transformer_id,
        window_name,
        charger_type,
        cast(charger_power_kw as float8) as charger_power_kw,
        cast(charger_voltage_v as float8) as charger_voltage_v,
        cast(charger_phases_required as integer) as charger_phases_required,
        firm_headroom_kw,
        coincidence_factor,
        cast(
            case
                when reason is null
                    then
                        floor(
                            firm_headroom_kw
                            / (coincidence_factor * charger_power_kw)
                            + 1e-9
                        )
                else 0
            end as integer
        ) as max_chargers,
        voltage_ok,
        phase_ok,
        reason
    from checked

)

select * from final
