{#-
    Every rule a model's rows must keep, checked in one scan by one test:
    one row per broken rule, with how many rows break it (`rule`,
    `failing_rows`). Each dbt test is a node dbt visits on every build
    (~20-60 ms of its Python whatever the data, and the model's children
    wait for it), and a scan of the model; a night ran a test per column
    rule before (CHANGELOG).

    - `not_null`: columns that must not be null;
    - `accepted_values`: column -> its allowed values (text; nulls pass);
    - `accepted_ranges`: column -> {min_value, max_value, inclusive (default
      true)}; either bound may be left out; nulls pass;
    - `expressions`: SQL boolean expressions every row must make true (false
      or null fails), each a string or {expression, where}: then only rows
      where `where` is true are checked;
    - `latest_run_only` / `latest_run_stamp`: only the rows the latest run
      wrote (macro evcap_test_rows).
-#}
{% test row_rules(
    model,
    not_null=[],
    accepted_values={},
    accepted_ranges={},
    expressions=[],
    latest_run_only=false,
    latest_run_stamp=none
) %}

{%- set rules = [] -%}
{%- for column in not_null -%}
    {%- do rules.append(('not_null: ' ~ column, column ~ ' is null')) -%}
{%- endfor -%}
{%- for column, values in accepted_values.items() -%}
    {%- set quoted = [] -%}
    {%- for value in values -%}
        {%- do quoted.append("'" ~ (value | string | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do rules.append((
        'accepted_values: ' ~ column,
        column ~ ' not in (' ~ quoted | join(', ') ~ ')'
    )) -%}
{%- endfor -%}
{%- for column, bounds in accepted_ranges.items() -%}
    {%- set outside = evcap_outside_range(
        column,
        bounds.get('min_value'),
        bounds.get('max_value'),
        bounds.get('inclusive', true)
    ) -%}
    {%- if outside -%}
        {%- do rules.append(('accepted_range: ' ~ column, outside)) -%}
    {%- endif -%}
{%- endfor -%}
{%- for rule in expressions -%}
    {%- set expression = rule if rule is string else rule['expression'] -%}
    {%- set where = none if rule is string else rule.get('where') -%}
    {%- set failing = 'not coalesce((' ~ expression | trim ~ '), false)' -%}
    {%- if where -%}
        {%- set failing = failing ~ ' and coalesce((' ~ where | trim ~ '), false)' -%}
    {%- endif -%}
    {%- set label = 'expression: ' ~ (expression.split() | join(' ')) -%}
    {%- if where -%}
        {%- set label = label ~ ' where ' ~ (where.split() | join(' ')) -%}
    {%- endif -%}
    {%- do rules.append((label, failing)) -%}
{%- endfor -%}
{%- if not rules -%}
    {{ exceptions.raise_compiler_error(
        'row_rules on ' ~ model ~ ': no rule given'
    ) }}
{%- endif %}

with

failing_rows as (

    select
        {%- for rule in rules %}
            count(*) filter (where ({{ rule[1] }})) as rule_{{ loop.index }}
            {{- "," if not loop.last }}
        {%- endfor %}
    from {{ evcap_test_rows(model, latest_run_only, latest_run_stamp) }} as tested

),

validation_errors as (

    select
        checked.rule,
        checked.failing_rows
    from failing_rows
    cross join lateral (
        values
        {%- for rule in rules %}
            ('{{ rule[0] | replace("'", "''") }}', failing_rows.rule_{{ loop.index }})
            {{- "," if not loop.last }}
        {%- endfor %}
    ) as checked (rule, failing_rows)
    where checked.failing_rows > 0

)

select * from validation_errors

{% endtest %}
