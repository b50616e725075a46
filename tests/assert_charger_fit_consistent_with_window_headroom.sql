{#-
    transformer_charger_fit agrees with transformer_window_headroom: one row
    per transformer x window x charger type, the same firm headroom, the count
    rule where no reason applies, and each reason backed by its condition.
-#}

with

fit as (

    select * from {{ ref('transformer_charger_fit') }}

),

window_headroom as (

    select * from {{ ref('transformer_window_headroom') }}

),

charger_types as (

    select * from {{ ref('charger_types') }}

),

transformers as (

    select * from {{ ref('dim_transformers') }}

),

expected_rows as (

    select
        window_headroom.grid_id,
        window_headroom.transformer_id,
        window_headroom.window_name,
        charger_types.charger_type,
        window_headroom.firm_headroom_kw,
        window_headroom.intervals_used,
        window_headroom.data_sufficient
    from window_headroom
    cross join charger_types

),

validation_errors as (

    select
        coalesce(expected_rows.grid_id, fit.grid_id) as grid_id,
        coalesce(
            expected_rows.transformer_id, fit.transformer_id
        ) as transformer_id,
        coalesce(expected_rows.window_name, fit.window_name) as window_name,
        coalesce(
            expected_rows.charger_type, fit.charger_type
        ) as charger_type,
        fit.max_chargers,
        fit.reason
    from expected_rows
    full outer join fit
        on
            expected_rows.grid_id = fit.grid_id
            and expected_rows.transformer_id = fit.transformer_id
            and expected_rows.window_name = fit.window_name
            and expected_rows.charger_type = fit.charger_type
    left join transformers
        on
            fit.grid_id = transformers.grid_id
            and fit.transformer_id = transformers.transformer_id
    where
        fit.grid_id is null
        or expected_rows.grid_id is null
        or fit.firm_headroom_kw is distinct from expected_rows.firm_headroom_kw
        or (
            fit.reason is null
            and fit.max_chargers <> floor(
                expected_rows.firm_headroom_kw
                / (fit.coincidence_factor * fit.charger_power_kw) + 1e-9
            )
        )
        or (fit.reason is not null and fit.max_chargers <> 0)
        or (
            fit.reason = 'missing_rating'
            and transformers.rating_kva is not null
        )
        or (
            fit.reason = 'no_data_in_window'
            and expected_rows.intervals_used > 0
        )
        or (
            fit.reason = 'insufficient_data_in_window'
            and expected_rows.data_sufficient
        )
        or (fit.reason is null and not expected_rows.data_sufficient)
        or (fit.reason = 'voltage_above_secondary' and fit.voltage_ok)
        or (fit.reason = 'secondary_not_low_voltage' and fit.voltage_ok)
        or (fit.reason = 'needs_three_phase' and fit.phase_ok)
        or (fit.reason = 'no_headroom' and fit.firm_headroom_kw > 0)
        or (
            fit.reason is null
            and (fit.voltage_ok = false or fit.phase_ok = false)
        )

)

select * from validation_errors
