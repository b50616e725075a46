{#-
    None of `columns` is null: one row per column that has nulls, with how
    many. One scan and one test for all of a model's required columns,
    where dbt's not_null is a test (a node dbt visits on every build, ~20-60
    ms of its Python each whatever the data) and a scan per column.
-#}
{% test not_null_columns(model, columns, latest_run_only=false) %}

with

null_rows as (

    select
        {%- for column in columns %}
            count(*) filter (where {{ column }} is null) as column_{{ loop.index }}
            {{- "," if not loop.last }}
        {%- endfor %}
    from {{ evcap_test_rows(model, latest_run_only) }} as tested

),

validation_errors as (

    select
        checked.column_name,
        checked.null_rows
    from null_rows
    cross join lateral (
        values
        {%- for column in columns %}
            ('{{ column }}', null_rows.column_{{ loop.index }})
            {{- "," if not loop.last }}
        {%- endfor %}
    ) as checked (column_name, null_rows)
    where checked.null_rows > 0

)

select * from validation_errors

{% endtest %}
