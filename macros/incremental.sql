{#
    The largest value of `column` in this incremental model's table ('' when
    empty), for filters like `load_id > {{ high_water_mark('last_load_id') }}`.
    Read before the model's query runs and inlined as a constant, so the
    planner sees how few rows pass the filter: as a scalar subquery, DuckDB
    guessed millions and built its hash table on the 20M events instead of
    on the few touched messages (8 s instead of 2 s at `large`). Unit tests
    mock `this` with a fixture, so there it stays a subquery. A table built
    before the column existed (on_schema_change adds it after this runs) has
    no mark yet: '' makes the run rebuild every row.
#}
{% macro high_water_mark(column) -%}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- if not this_has_columns([column]) -%}
            {{ return(sql_string('')) }}
        {%- endif -%}
        {%- set value = run_query(
            'select coalesce(max(' ~ column ~ "), '') from " ~ this
        ).columns[0].values()[0] -%}
        {{ sql_string(value) }}
    {%- else -%}
        (select coalesce(max({{ column }}), '') from {{ this }})
    {%- endif -%}
{%- endmacro %}

{#
    When this run started, as a timestamp literal: the `dbt_updated_at` of
    every row the run writes. Models downstream of an incremental model take
    the rows it wrote since they last ran (`stamped_since_last_run`).
#}
{% macro run_stamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#
    A condition on `column` (an upstream model's `dbt_updated_at`) true for
    the rows written after this model's own newest `dbt_updated_at`: what
    changed upstream since this model last ran. Read before the model's
    query runs and inlined as a constant (see high_water_mark). True for
    every row when this model holds no stamp yet (empty, or built before the
    column existed), so such a run rebuilds everything. A run that writes
    nothing keeps the older stamp: the next run looks further back, which is
    more work, never less correct.
#}
{% macro stamped_since_last_run(column) -%}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set last = none -%}
        {%- if this_has_columns(['dbt_updated_at']) -%}
            {%- set last = run_query(
                'select max(dbt_updated_at) from ' ~ this
            ).columns[0].values()[0] -%}
        {%- endif -%}
        {%- if last is none -%}
            1 = 1
        {%- else -%}
            {{ column }} > cast('{{ last }}' as timestamp)
        {%- endif -%}
    {%- else -%}
        {{ column }} > (
            select coalesce(max(dbt_updated_at), cast('1900-01-01' as timestamp))
            from {{ this }}
        )
    {%- endif -%}
{%- endmacro %}

{#
    Incremental strategy `replace_by_key`: the model's query returns, for
    every key it touches, the key's complete new set of rows, or a single
    tombstone row (`dbt_updated_at` null) when the key has no rows any more.
    Every row of those keys is deleted, then the non-tombstone rows are
    inserted. dbt's delete+insert cannot remove a key that keeps no rows,
    and a contract's not-null constraints hold on the target only, so the
    tombstones can carry nulls in the temporary table.
#}
{% macro get_incremental_replace_by_key_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set key = arg_dict['unique_key'] -%}
    {%- if key is none or key is not string -%}
        {{ exceptions.raise_compiler_error(
            'incremental_strategy replace_by_key needs one unique_key column') }}
    {%- endif -%}
    {%- set columns = get_quoted_csv(
        arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }}
    where {{ key }} in (select {{ key }} from {{ source }});
    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
    where dbt_updated_at is not null
{%- endmacro %}

{# Whether this incremental model's table has all these columns yet. #}
{% macro this_has_columns(names) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set existing = adapter.get_columns_in_relation(this)
        | map(attribute='name') | map('lower') | list -%}
    {{ return(names | map('lower') | reject('in', existing) | list | length == 0) }}
{%- endmacro %}

{#
    A hash of a (small) relation's contents over `columns`, as a scalar
    subquery: a model that stores it on its rows can tell that a seed it
    reads changed since they were computed. It hashes the table as loaded,
    not the CSV file, so editing a file without `dbt seed` changes nothing.
#}
{% macro table_fingerprint(relation, columns) -%}
    {%- set fields = [] -%}
    {%- for column in columns -%}
        {%- do fields.append("coalesce(cast(" ~ column ~ " as "
            ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last %}{% do fields.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {%- set row_text = dbt.concat(fields) -%}
    (
        select coalesce({{ dbt.hash(dbt.listagg(
            row_text, "'~'", 'order by ' ~ row_text)) }}, '')
        from {{ relation }}
    )
{%- endmacro %}
