{#-
    Post-hook of int_transformer_loads_rolled_up. A transformer whose
    fingerprint (int_transformer_meter_sets.meter_set_id) changed had its
    whole history recomputed, and the strategy replaced its rows from the
    first recomputed interval on; rows before that, or of intervals where
    nothing below it reports any more, still carry the old fingerprint and
    are deleted here. The check is one index probe per transformer (its
    oldest row); nothing is deleted when nothing changed.
-#}
{% macro evcap_delete_stale_loads(relation) -%}
    delete from {{ relation }} as stored
    using (
        select
            sets.grid_id,
            sets.transformer_id,
            sets.meter_set_id
        from {{ ref('int_transformer_meter_sets') }} as sets
        cross join lateral (
            select oldest_row.meter_set_id
            from {{ relation }} as oldest_row
            where
                oldest_row.grid_id = sets.grid_id
                and oldest_row.transformer_id = sets.transformer_id
            order by oldest_row.interval_start asc
            limit 1
        ) as oldest
        where oldest.meter_set_id <> sets.meter_set_id
    ) as changed
    where
        stored.grid_id = changed.grid_id
        and stored.transformer_id = changed.transformer_id
        and stored.meter_set_id <> changed.meter_set_id
{%- endmacro %}
