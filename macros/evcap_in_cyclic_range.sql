{#-
    True when `value` lies in [range_start, range_end] on a cycle (months,
    hours, weekdays): start > end wraps, e.g. hours 22..4 = 22,23,0,1,2,3,4.
-#}
{% macro evcap_in_cyclic_range(value, range_start, range_end) -%}
    case
        when {{ range_start }} <= {{ range_end }}
            then {{ value }} between {{ range_start }} and {{ range_end }}
        else {{ value }} >= {{ range_start }} or {{ value }} <= {{ range_end }}
    end
{%- endmacro %}


{#-
    True when the calendar cell (local month, local hour, ISO weekday: SQL
    integer expressions) lies inside the charging window whose seed row is
    `windows` (month, hour and ISO weekday ranges, inclusive, wrapping when
    start > end).
-#}
{% macro evcap_window_contains_cell(windows, month, hour, isodow) -%}
    (
        {{ evcap_in_cyclic_range(
            month, windows ~ '.month_start', windows ~ '.month_end'
        ) }}
        and {{ evcap_in_cyclic_range(
            hour, windows ~ '.hour_start', windows ~ '.hour_end'
        ) }}
        and {{ evcap_in_cyclic_range(
            isodow, windows ~ '.isodow_start', windows ~ '.isodow_end'
        ) }}
    )
{%- endmacro %}
