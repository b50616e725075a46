{#-
    Post-hook of int_transformer_loads_rolled_up. A transformer whose
    fingerprint (int_transformer_meter_sets.meter_set_id) changed had its
    whole history recomputed, and the strategy replaced its rows from the
    first recomputed interval on; rows before that, or of intervals where
    nothing below it reports any more, still carry the old fingerprint and
    are deleted here. The check is one index probe per transformer (its
    oldest row); nothing is deleted when nothing changed. On Citus the oldest rows
    come from one DISTINCT ON on the shards (macros/evcap_citus.sql).
-#}
{% macro evcap_delete_stale_loads(relation) -%}
    {#-
        A first build or full refresh wrote every row with the current
        fingerprint: nothing to delete. On Citus the table is then still a
        plain coordinator table, which a delete joined with reference tables
        cannot modify, so the statement is left out there.
    -#}
    {%- if evcap_is_citus() and not is_incremental() -%}
        select 1
    {%- else -%}
    delete from {{ relation }} as stored
    using (
        {{ evcap_changed_meter_sets(relation) }}
    ) as changed
    where
        stored.grid_id = changed.grid_id
        and stored.transformer_id = changed.transformer_id
        and stored.meter_set_id <> changed.meter_set_id
    {%- endif -%}
{%- endmacro %}
