{#
    dbt's `unique` for columns of many millions of long strings (event ids):
    values are grouped by their 64-bit hash first, which is much cheaper than
    grouping the strings, and only the values whose hash occurs more than once
    are then grouped as strings. Every duplicate shares its hash, so none is
    missed; two distinct values that collide are compared and not reported.
    With `stamp` (the column saying when each row was written), only the
    values of the rows written since the test last passed are looked for, in
    the whole table (macros/test_watermarks.sql).
#}
{% test unique_by_hash(model, column_name, stamp=none) %}

{%- if stamp and config.get('where') -%}
    {{ exceptions.raise_compiler_error(
        "unique_by_hash: `stamp` cannot be combined with `where`: the pass it"
        ~ " records would not say which rows it covered") }}
{%- endif -%}
{%- set verified_at = test_verified_at(test_watermark_key(
    model, column_name, 'unique_by_hash')) if stamp else none %}

with

hashes_to_check as (

    {%- if verified_at is not none %}
    select distinct {{ fast_hash(column_name) }} as value_hash
    from {{ model }}
    where
        {{ column_name }} is not null
        and {{ stamp }} > cast('{{ verified_at }}' as {{ dbt.type_timestamp() }})
    {%- else %}
    select {{ fast_hash(column_name) }} as value_hash
    from {{ model }}
    where {{ column_name }} is not null
    group by {{ fast_hash(column_name) }}
    having count(*) > 1
    {%- endif %}

)

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where
    {{ fast_hash(column_name) }} in (
        select hashes_to_check.value_hash from hashes_to_check
    )
group by {{ column_name }}
having count(*) > 1

{% endtest %}
