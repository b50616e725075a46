{#-
    How many chargers of one type fit on a transformer in a charging window:
    floor(firm headroom / (coincidence factor x charger kW)), and 0 with a
    reason, checked in this order:
      missing_rating (no usable rating: missing or unreadable),
      no_data_in_window,
      insufficient_data_in_window (too little data in the window to trust:
        window_headroom.data_sufficient),
      not_a_distribution_transformer (meta.voltage_level says its secondary
        is not LV, e.g. 'HV/MV', 'MV/MV'),
      secondary_voltage_unreadable (missing or matching no notation),
      secondary_not_low_voltage (above var('max_low_voltage_v')),
      voltage_above_secondary,
      phases_unreadable (only for chargers needing more than one phase: one
        phase is there on any transformer),
      needs_three_phase, no_headroom, headroom_below_one_charger.
    Nothing is counted from a guessed value: what cannot be read is a reason
    here and a data issue in dim_transformers.
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
        is_distribution,
        phase_count
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
            when transformers.phase_count is not null
                then transformers.phase_count >= charger_types.phases_required
            when charger_types.phases_required <= 1 then true
        end as phase_ok,
        case
            when transformers.rating_kva is null then 'missing_rating'
            when window_headroom.intervals_used = 0 then 'no_data_in_window'
            when not window_headroom.data_sufficient
                then 'insufficient_data_in_window'
            when not transformers.is_distribution
                then 'not_a_distribution_transformer'
            when transformers.secondary_voltage_v is null
                then 'secondary_voltage_unreadable'
            when
                transformers.secondary_voltage_v
                > {{ var('max_low_voltage_v') }}
                then 'secondary_not_low_voltage'
            when charger_types.voltage_v > transformers.secondary_voltage_v
                then 'voltage_above_secondary'
            when
                transformers.phase_count is null
                and charger_types.phases_required > 1
                then 'phases_unreadable'
            when transformers.phase_count < charger_types.phases_required
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
