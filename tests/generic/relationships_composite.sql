{#-
    Every non-null (columns) of the model exists as (to_columns) in `to`:
    relationships over a composite key such as (grid_id, transformer_id).
-#}
{% test relationships_composite(
    model, columns, to, to_columns, column_name=none, latest_run_only=false
) %}

with

child as (

    select {{ columns | join(', ') }}
    from {{ evcap_test_rows(model, latest_run_only) }} as tested
    where {{ columns | join(' is not null and ') }} is not null

),

parent as (

    select {{ to_columns | join(', ') }}
    from {{ to }}

),

validation_errors as (

    select child.*
    from child
    left join parent
        on
        {%- for column in columns %}
            {{ 'and ' if not loop.first }}child.{{ column }} = parent.{{ to_columns[loop.index0] }}
        {%- endfor %}
    where parent.{{ to_columns[0] }} is null

)

select * from validation_errors

{% endtest %}
