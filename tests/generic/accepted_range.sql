{#- Non-null values of `column_name` lie in [min_value, max_value]. -#}
{% test accepted_range(
    model, column_name, min_value=none, max_value=none, inclusive=true
) %}

with

validation_errors as (

    select *
    from {{ model }}
    where
        {{ column_name }} is not null
        and ({{
            evcap_outside_range(column_name, min_value, max_value, inclusive)
            or 'false'
        }})

)

select * from validation_errors

{% endtest %}
