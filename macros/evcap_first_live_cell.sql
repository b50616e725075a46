{#-
    A LATERAL subquery: the first value of the cells' `column` (not null:
    tombstones have none) in `direction` ('asc' or 'desc') among the
    calendar cells (int_transformer_load_cells) of the grid `grid_id` (SQL)
    whose transformer is in `transformers` (a relation with grid_id and
    transformer_id), as `alias`. With an index on (grid_id, `column`) one
    index probe: the first cell in index order, not a scan of the grid's
    cells (transformer_window_headroom's grid spans).
-#}
{% macro evcap_first_live_cell(column, direction, alias, grid_id, transformers) -%}
    lateral (
        select probed.{{ column }} as {{ alias }}
        from {{ ref('int_transformer_load_cells') }} as probed
        where
            probed.grid_id = {{ grid_id }}
            and probed.{{ column }} is not null
            and exists (
                select 1 as found
                from {{ transformers }} as known
                where
                    known.grid_id = probed.grid_id
                    and known.transformer_id = probed.transformer_id
            )
        order by probed.{{ column }} {{ direction }}
        limit 1
    )
{%- endmacro %}
