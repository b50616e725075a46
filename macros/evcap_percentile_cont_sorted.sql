{#-
    percentile_cont(`fraction`) of the values of `sorted_array` (a float8[]
    sorted ascending, SQL expressions both), by the same arithmetic as
    PostgreSQL's own: position h = fraction x (n - 1) (0-based), the values
    at floor(h) and ceil(h), linearly interpolated, in float8 as there (a
    numeric fraction would cost more per row). Null for an empty or
    null array. Lets a mart take exact percentiles of groups it has
    collected with array_agg in a hash aggregate (each group sorted on its
    own), instead of one sort of every value by group.

    With `value_count` and `rank_offset` (SQL expressions), `sorted_array`
    holds only a run of the sorted values: the values ranked rank_offset + 1
    to rank_offset + cardinality of all value_count (the rest counted, not
    collected). When a rank the percentile needs falls outside the run, its
    subscript is out of range and the result null (PostgreSQL's arrays).
-#}
{% macro evcap_percentile_cont_sorted(
    sorted_array, fraction_expression, value_count=none, rank_offset=none
) -%}
    {%- set fraction = 'cast(' ~ fraction_expression ~ ' as float8)' %}
    {%- set count = (
        '(' ~ value_count ~ ')' if value_count is not none
        else 'cardinality(' ~ sorted_array ~ ')'
    ) %}
    {%- set first = (
        '1 - (' ~ rank_offset ~ ')' if rank_offset is not none else '1'
    ) %}
    (
        {{ sorted_array }}[
            {{ first }} + floor({{ fraction }} * ({{ count }} - 1))
        ]
        + (
            {{ fraction }} * ({{ count }} - 1)
            - floor({{ fraction }} * ({{ count }} - 1))
        )
        * (
            {{ sorted_array }}[
                {{ first }} + ceil(
                    {{ fraction }} * ({{ count }} - 1)
                )
            ]
            - {{ sorted_array }}[
                {{ first }} + floor(
                    {{ fraction }} * ({{ count }} - 1)
                )
            ]
        )
    )
{%- endmacro %}


{#-
    The values of float8[] `array_expression` sorted ascending (a scalar
    subquery: one small sort per row).
-#}
{% macro evcap_sorted(array_expression) -%}
    (
        select array_agg(unsorted.value order by unsorted.value)
        from unnest({{ array_expression }}) as unsorted (value)
    )
{%- endmacro %}


{#-
    Every value of the float8[] column `array_column` of `relation`, per group
    of `group_columns`, in one array sorted ascending (column sorted_loads_kw):
    collected in a hash aggregate, then each group sorted on its own, behind
    an optimisation fence so the sort runs once per group however often the
    caller references the result (evcap_percentile_cont_sorted does, twice per
    percentile). With the same pass's count, min, max and sum of the values
    (value_count, min_value_kw, max_value_kw, value_sum_kw), so a mart needs
    no second aggregate of the same groups to join back: that join of two
    aggregates is estimated at a row or so, and the planner then nested
    loops the transformers over it (seen: 389,000 x 16,000 rows). A
    subquery, for the profile and window marts.
-#}
{% macro evcap_sorted_per_group(relation, group_columns, array_column) -%}
    (
        select
            collected.*,
            case
                -- one value is sorted (a short history's groups): no sort
                when cardinality(collected.collected_kw) <= 1
                    then collected.collected_kw
                else {{ evcap_sorted('collected.collected_kw') }}
            end as sorted_loads_kw
        from (
            select
                {%- for column in group_columns %}
                    grouped.{{ column }},
                {%- endfor %}
                array_agg(grouped_values.value_kw) as collected_kw,
                count(grouped_values.value_kw) as value_count,
                min(grouped_values.value_kw) as min_value_kw,
                max(grouped_values.value_kw) as max_value_kw,
                sum(grouped_values.value_kw) as value_sum_kw
            from {{ relation }} as grouped
            cross join
                unnest(grouped.{{ array_column }}) as grouped_values (value_kw)
            group by
                {%- for column in group_columns %}
                    grouped.{{ column }}{% if not loop.last %},{% endif %}
                {%- endfor %}
        ) as collected
        -- an optimisation fence (row order does not matter here)
        offset 0  -- noqa: AM09
    )
{%- endmacro %}


{#-
    The values of the float8[] `sorted_array` (sorted ascending) inside the
    band (`low_kw`, `high_kw`]: a slice between two binary searches
    (width_bucket counts the values at or below an edge). Empty when none;
    null for a null array or edge. SQL expressions all.
-#}
{% macro evcap_band_slice(sorted_array, low_kw, high_kw) -%}
    {{ sorted_array }}[
        width_bucket({{ low_kw }}, {{ sorted_array }})
        + 1:width_bucket({{ high_kw }}, {{ sorted_array }})
    ]
{%- endmacro %}
