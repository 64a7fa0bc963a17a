{#
    Every dbt invocation that writes models (build, run, seed, snapshot) is
    recorded in dbt_invocations of the working database, whoever started it:
    a row `running` at its start (`started_at`: dbt's run start, UTC), then
    `failed` (a node in error or a test failing), `untested` (`dbt run`, or
    `--empty`: models written without their tests on their data) or
    `success` (`finished_at` by the database's clock); a killed one stays
    `running`. `scope` is `full` for a `dbt build` of the whole project (no
    selection, no resource types left out but unit tests, not `--empty`),
    else `partial`. Before a sync or a publication that does not build, the
    nightly requires a successful full build with only successes after it
    (hubseg/nightly/history.py): marts written by a failed, unfinished or
    untested invocation, by hand too, never reach HubSpot or BI.
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

{#- `--empty`: every model built on zero rows (a flag dbt may pass as text). #}
{% macro invocation_is_empty() -%}
    {{ return(invocation_args_dict.get('empty') in (true, 'True', 'true')) }}
{%- endmacro %}

{% macro invocation_scope() -%}
    {%- set args = invocation_args_dict -%}
    {%- set excluded = args.get('exclude_resource_types') or [] -%}
    {%- set whole = flags.WHICH == 'build'
        and not args.get('select') and not args.get('exclude')
        and not args.get('selector') and not args.get('resource_types')
        and not invocation_is_empty()
        and (excluded | reject('equalto', 'unit_test') | list | length) == 0 -%}
    {{ return('full' if whole else 'partial') }}
{%- endmacro %}

{#- on-run-start #}
{% macro record_invocation_start() %}
    {%- if target.name != 'lint' %}
    create table if not exists {{ dbt_invocations_relation() }} (
        invocation_id {{ dbt.type_string() }} not null,
        command {{ dbt.type_string() }} not null,
        scope {{ dbt.type_string() }} not null,
        started_at {{ dbt.type_timestamp() }} not null,
        finished_at {{ dbt.type_timestamp() }},
        status {{ dbt.type_string() }} not null
    );
    {%- if invocation_writes_models() %}
    insert into {{ dbt_invocations_relation() }}
        (invocation_id, command, scope, started_at, status)
    values ({{ sql_string(invocation_id) }}, {{ sql_string(flags.WHICH) }},
        {{ sql_string(invocation_scope()) }}, {{ run_stamp() }}, 'running')
    {%- endif %}
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{#- on-run-end #}
{% macro record_invocation_end(results) %}
    {%- if invocation_writes_models() %}
    {%- set failed = results | selectattr('status', 'in',
        ['error', 'fail', 'runtime error', 'partial success']) | list %}
    {%- set untested = flags.WHICH == 'run' or invocation_is_empty() %}
    update {{ dbt_invocations_relation() }}
    set
        finished_at = {{ dbt.current_timestamp() }},
        status = '{{ "failed" if failed else ("untested" if untested else "success") }}'
    where invocation_id = {{ sql_string(invocation_id) }}
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}
