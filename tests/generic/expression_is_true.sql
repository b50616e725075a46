{#- Rows where `expression` is not true (false or null) fail. -#}
{% test expression_is_true(
    model,
    expression,
    where_clause=none,
    column_name=none,
    latest_run_only=false,
    latest_run_stamp=none
) %}

with

validation_errors as (

    select *
    from {{ evcap_test_rows(model, latest_run_only, latest_run_stamp) }} as tested
    where
        not coalesce(({{ expression }}), false)
        {%- if where_clause %}
            and ({{ where_clause }})
        {%- endif %}

)

select * from validation_errors

{% endtest %}
