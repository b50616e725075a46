{#-
    dbt's run_hooks (global project, materializations/hooks.sql), which every
    materialization calls twice for the pre-hooks and twice for the
    post-hooks (inside the model's transaction, then outside it), with two
    changes that save statements, each of which costs dbt a few milliseconds
    of Python (events, logging) on the night's critical path:

    - outside the transaction, dbt sends `commit;` before the first hook even
      when every hook renders to nothing. evcap's only outside hooks are the
      Citus layout's (macros/evcap_citus.sql), empty on plain PostgreSQL, so
      there dbt committed twice per model for nothing, and the first of them
      left the model's statements without a transaction (psycopg2 believed it
      open and sent no BEGIN: the SET LOCAL hooks were lost; CHANGELOG, "SET
      LOCAL hooks were ignored"). Here `commit;` is sent only when a hook
      will run; with nothing to run, the model's statements stay in the one
      transaction dbt opened.
    - inside the transaction on plain PostgreSQL, the hooks that render to
      SQL are sent as one statement (joined by `;` on a line of its own, so
      a hook ending in a comment cannot swallow it), in their order: the
      same transaction, one round trip. On Citus each hook stays a statement
      of its own, as dbt sends them (the layout rules there depend on what
      one statement does).

    A hook renders before any hook of its group runs; none of evcap's reads
    the database while rendering.
-#}
{% macro run_hooks(hooks, inside_transaction=True) %}
    {%- set rendered_hooks = [] -%}
    {%- for hook in hooks | selectattr('transaction', 'equalto', inside_transaction) -%}
        {%- set rendered = render(hook.get('sql')) | trim -%}
        {%- if rendered | length > 0 -%}
            {%- do rendered_hooks.append(rendered) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if rendered_hooks and not inside_transaction -%}
        {%- call statement(auto_begin=false) -%}
            commit;
        {%- endcall -%}
    {%- endif -%}
    {%- if rendered_hooks and inside_transaction and not evcap_is_citus() -%}
        {%- call statement(auto_begin=true) -%}
            {{ rendered_hooks | join('\n;\n') }}
        {%- endcall -%}
    {%- else -%}
        {%- for rendered in rendered_hooks -%}
            {%- call statement(auto_begin=inside_transaction) -%}
                {{ rendered }}
            {%- endcall -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}
