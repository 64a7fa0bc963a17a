{#
    Every dbt invocation that writes models (build, run, seed, snapshot) is
    recorded in dbt_invocations of the working database, whoever started it:
    a row `running` at its start (`started_at`: dbt's run start, UTC),
    `success` or `failed` at its end (any node in error or failing;
    `finished_at` by the database's clock), and a killed one stays
    `running`. The nightly reads
    the newest row before a sync or a publication that does not build: marts
    written by a failed or unfinished invocation, by hand too, never reach
    HubSpot or BI (hubseg/nightly/history.py).
#}

{% macro dbt_invocations_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema,
        identifier='dbt_invocations')) }}
{%- endmacro %}

{% macro invocation_writes_models() -%}
    {{ return(execute and target.name != 'lint'
              and flags.WHICH in ('build', 'run', 'seed', 'snapshot')) }}
{%- endmacro %}

{#- on-run-start #}
{% macro record_invocation_start() %}
    {%- if target.name != 'lint' %}
    create table if not exists {{ dbt_invocations_relation() }} (
        invocation_id {{ dbt.type_string() }} not null,
        command {{ dbt.type_string() }} not null,
        started_at {{ dbt.type_timestamp() }} not null,
        finished_at {{ dbt.type_timestamp() }},
        status {{ dbt.type_string() }} not null
    );
    {%- if invocation_writes_models() %}
    insert into {{ dbt_invocations_relation() }}
        (invocation_id, command, started_at, status)
    values ({{ sql_string(invocation_id) }}, {{ sql_string(flags.WHICH) }},
        {{ run_stamp() }}, 'running')
    {%- endif %}
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{#- on-run-end #}
{% macro record_invocation_end(results) %}
    {%- if invocation_writes_models() %}
    {%- set failed = [] -%}
    {%- for result in results -%}
        {%- if result.status in ('error', 'fail', 'runtime error',
                                 'partial success') -%}
            {%- do failed.append(result.node.unique_id) -%}
        {%- endif -%}
    {%- endfor %}
    update {{ dbt_invocations_relation() }}
    set
        finished_at = {{ dbt.current_timestamp() }},
        status = '{{ "failed" if failed else "success" }}'
    where invocation_id = {{ sql_string(invocation_id) }}
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}
