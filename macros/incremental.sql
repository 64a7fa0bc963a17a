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
        {%- set existing = adapter.get_columns_in_relation(this)
            | map(attribute='name') | map('lower') | list -%}
        {%- if column | lower not in existing -%}
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
        {%- set existing = adapter.get_columns_in_relation(this)
            | map(attribute='name') | map('lower') | list -%}
        {%- set last = none -%}
        {%- if 'dbt_updated_at' in existing -%}
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

{#
    A condition over `new` (the query's row) and `old` (the stored row of
    the same key, null when none) true when they differ in any column but
    `excluded`: a query keeps these rows to write only what changed. When
    the model declares a column the table lacks (an upgrade: dbt appends
    it empty), every row differs, so all get the new column's values.
#}
{% macro differs_from_this(new, old, excluded) -%}
    {%- if not execute or model.resource_type == 'unit_test' -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {%- set stored = adapter.get_columns_in_relation(this)
        | map(attribute='name') | map('lower') | list -%}
    {%- set declared = model.columns.keys() | map('lower') | list -%}
    {%- if declared | reject('in', stored) | list -%}
        {{ return('1 = 1') }}
    {%- endif -%}
    {{ old }}.contact_id is null
    {%- for column in stored | reject('in', excluded) %}
    or {{ new }}.{{ column }} is distinct from {{ old }}.{{ column }}
    {%- endfor %}
{%- endmacro %}

{#
    Post-hook: deletes this model's rows whose contact_id has no row in
    `live` meeting `condition` (over `live`'s columns): the contacts that
    should no longer have one.
#}
{% macro delete_contacts_not_in(live, condition='1 = 1') -%}
    delete from {{ this }}
    where not exists (
        select 1 from {{ live }} as live
        where live.contact_id = {{ this }}.contact_id and ({{ condition }})
    )
{%- endmacro %}
