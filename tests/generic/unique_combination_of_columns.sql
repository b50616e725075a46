{#- Each combination of `combination_of_columns` appears at most once. -#}
{% test unique_combination_of_columns(
    model, combination_of_columns, latest_run_only=false
) %}

with

validation_errors as (

    select
        {{ combination_of_columns | join(',\n        ') }},
        count(*) as occurrences
    from {{ evcap_test_rows(model, latest_run_only) }} as tested
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

)

select * from validation_errors

{% endtest %}
