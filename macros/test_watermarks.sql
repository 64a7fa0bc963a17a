{#
    Tests that check only what changed. A big incremental model's uniqueness
    test need not re-read the 20M rows it verified yesterday: given that
    every row was unique when the test last passed, a duplicate now needs a
    row written since, so the test checks the values of the rows stamped
    (`dbt_updated_at`) after that pass against the whole table. A test opts
    in with the argument `stamp` (unique_by_hash). The passes are recorded
    per test in test_watermarks by on-run-end; a failing test records
    nothing, so it keeps failing until the rows are fixed. No pass yet, or
    var verify_all_rows: the whole table. Sound only for properties of a
    row or of a key's rows (unique, not null), never for relationships.
    Not recorded: a pass under --empty (it read no rows) or one that found
    rows under a threshold. Not used: a mark no earlier than this
    invocation's start (a clock behind another host's, or an invocation that
    overlapped this one), which checks the whole table instead. A table
    copied in with older stamps (`dbt clone`, or read through `--defer`) is
    not known to the mark: verify_all_rows checks it.
#}

{% macro test_watermarks_relation() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema,
        identifier='test_watermarks')) }}
{%- endmacro %}

{#- on-run-start: the table exists before any test reads it. #}
{% macro create_test_watermarks() %}
    {%- if target.name != 'lint' %}
    create table if not exists {{ test_watermarks_relation() }} (
        test_key {{ dbt.type_string() }} not null,
        verified_at {{ dbt.type_timestamp() }} not null
    )
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}

{#- A scoped test's key: the tested relation, column and test name. #}
{% macro test_watermark_key(relation, column_name, test_name) -%}
    {{ return([relation.database, relation.schema, relation.identifier,
               column_name, test_name] | join('.')) }}
{%- endmacro %}

{#
    When a scoped test last passed, read as the test runs: none when it never
    passed (or with var verify_all_rows), so the test checks every row the
    cheapest way for all of them.
#}
{% macro test_verified_at(test_key) -%}
    {%- if not execute or var('verify_all_rows') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set verified_at = run_query(
        'select max(verified_at) from ' ~ test_watermarks_relation()
        ~ ' where test_key = ' ~ sql_string(test_key)
        ~ ' and verified_at < ' ~ run_stamp()
    ).columns[0].values()[0] -%}
    {{ return(verified_at) }}
{%- endmacro %}

{#-
    on-run-end: every scoped test that passed in this invocation moves its
    mark to the invocation's start, the stamp of every row it wrote, so
    the rows a model wrote in this run are never taken as verified before
    its test ran.
#}
{% macro record_test_watermarks(results) %}
    {%- set keys = [] -%}
    {%- if execute and target.name != 'lint' and not invocation_is_empty() -%}
        {%- for result in results -%}
            {%- set node = result.node -%}
            {%- set metadata = node.test_metadata
                if node.resource_type == 'test' else none -%}
            {%- if result.status == 'pass' and not result.failures
                and metadata and metadata.kwargs.get('stamp') -%}
                {%- set tested = graph.nodes.get(node.attached_node) -%}
                {%- do keys.append(test_watermark_key(
                    api.Relation.create(database=tested.database,
                        schema=tested.schema, identifier=tested.alias),
                    metadata.kwargs.get('column_name'), metadata.name)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if keys %}
    {%- set listed = [] -%}
    {%- for key in keys -%}{%- do listed.append(sql_string(key)) -%}{%- endfor %}
    delete from {{ test_watermarks_relation() }}
    where test_key in ({{ listed | join(', ') }});
    insert into {{ test_watermarks_relation() }} (test_key, verified_at)
    {%- for key in keys %}
    {{ 'values' if loop.first else ',' }} ({{ sql_string(key) }}, {{ run_stamp() }})
    {%- endfor %}
    {%- else %}
    select 1
    {%- endif %}
{% endmacro %}
