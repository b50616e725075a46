{{
    config(
        indexes=[
            {'columns': ['grid_id', 'transformer_id'], 'unique': true},
        ],
    )
}}

{#-
    Transformer nameplate attributes read from the notations utilities write,
    through one mapping users can extend: seed edm_notations (see its docs).

    Numbers: `<number>[[Y]/<number>] [unit]`, e.g. '250 kVA', '0.25 MVA',
    '50', '208Y/120', '120/240', '0.4 kV', '400 V', '25000Y/14400'. The unit
    text (empty: none) must match exactly one factor of its kind; of a pair
    the larger number counts (the line-to-line voltage). Phases: the whole
    text must match phase-count rows of one value ('ABCN', 'BC', '3PH',
    'S'). Each attribute gets a status: ok | missing | unparseable |
    not_positive; its value is null unless ok - never a guess.
-#}

with

notations as (

    select * from {{ ref('edm_notations') }}

),

-- materialized: each text is parsed once per transformer, not once per
-- reference
transformers as materialized (

    select
        grid_id,
        element_id as transformer_id,
        voltage_level,
        phases,
        rating_kva_text,
        secondary_voltage_text,
        primary_voltage_text,
        {{ evcap_notation_parts('rating_kva_text') }} as rating_parts,
        {{ evcap_notation_parts('secondary_voltage_text') }}
            as secondary_parts,
        {{ evcap_notation_parts('primary_voltage_text') }} as primary_parts
    from {{ ref('stg_edm__grid_elements') }}
    where is_transformer

),

-- every notation text of a kind that the transformers carry
notation_texts as (

    select
        'rating_unit' as kind,
        rating_parts[3] as notation_text
    from transformers
    union all
    select
        'voltage_unit' as kind,
        secondary_parts[3] as notation_text
    from transformers
    union all
    select
        'voltage_unit' as kind,
        primary_parts[3] as notation_text
    from transformers
    union all
    select
        'phases' as kind,
        trim(phases) as notation_text
    from transformers
    union all
    select
        'voltage_level' as kind,
        trim(voltage_level) as notation_text
    from transformers

),

notation_values as materialized (

    select * from {{ evcap_notation_values('notation_texts') }} as text_values

),

looked_up as (

    select
        transformers.*,
        rating_unit.notation_value as rating_factor,
        secondary_unit.notation_value as secondary_factor,
        primary_unit.notation_value as primary_factor,
        phase_count.notation_value as phase_count_value,
        distribution.notation_value as distribution_value
    from transformers
    left join notation_values as rating_unit
        on
            rating_unit.kind = 'rating_unit'
            and transformers.rating_parts[3] = rating_unit.notation_text
    left join notation_values as secondary_unit
        on
            secondary_unit.kind = 'voltage_unit'
            and transformers.secondary_parts[3] = secondary_unit.notation_text
    left join notation_values as primary_unit
        on
            primary_unit.kind = 'voltage_unit'
            and transformers.primary_parts[3] = primary_unit.notation_text
    left join notation_values as phase_count
        on
            phase_count.kind = 'phases'
            and trim(transformers.phases) = phase_count.notation_text
    left join notation_values as distribution
        on
            distribution.kind = 'voltage_level'
            and trim(transformers.voltage_level) = distribution.notation_text

),

valued as (

    select
        *,
        greatest(
            cast(rating_parts[1] as float8), cast(rating_parts[2] as float8)
        ) * rating_factor as rating_value,
        greatest(
            cast(secondary_parts[1] as float8),
            cast(secondary_parts[2] as float8)
        ) * secondary_factor as secondary_value,
        greatest(
            cast(primary_parts[1] as float8), cast(primary_parts[2] as float8)
        ) * primary_factor as primary_value
    from looked_up

),

final as (

    select
        grid_id,
        transformer_id,
        rating_kva_text,
        {{ evcap_notation_status('rating_kva_text', 'rating_value') }}
            as rating_kva_status,
        case
            when rating_value > 0 then rating_value
        end as rating_kva,
        secondary_voltage_text,
        {{ evcap_notation_status(
            'secondary_voltage_text', 'secondary_value'
        ) }} as secondary_voltage_status,
        case
            when secondary_value > 0 then secondary_value
        end as secondary_voltage_v,
        primary_voltage_text,
        {{ evcap_notation_status(
            'primary_voltage_text', 'primary_value'
        ) }} as primary_voltage_status,
        case
            when primary_value > 0 then primary_value
        end as primary_voltage_v,
        phases,
        {{ evcap_notation_status('phases', 'phase_count_value') }}
            as phases_status,
        cast(
            case when phase_count_value > 0 then phase_count_value end
            as integer
        ) as phase_count,
        voltage_level,
        case
            when nullif(trim(voltage_level), '') is null then 'missing'
            when distribution_value is null then 'unparseable'
            else 'ok'
        end as voltage_level_status,
        distribution_value = 1 as is_distribution
    from valued

)

select * from final
