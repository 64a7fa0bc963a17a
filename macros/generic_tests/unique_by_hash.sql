{#
    dbt's `unique` for columns of many millions of long strings (event ids):
    values are grouped by their 64-bit hash first, which is much cheaper than
    grouping the strings, and only the values whose hash occurs more than once
    are then grouped as strings. Every duplicate shares its hash, so none is
    missed; two distinct values that collide are compared and not reported.
#}
{% test unique_by_hash(model, column_name) %}

with

hashes_seen_twice as (

    select {{ fast_hash(column_name) }} as value_hash
    from {{ model }}
    where {{ column_name }} is not null
    group by {{ fast_hash(column_name) }}
    having count(*) > 1

)

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where
    {{ fast_hash(column_name) }} in (
        select hashes_seen_twice.value_hash from hashes_seen_twice
    )
group by {{ column_name }}
having count(*) > 1

{% endtest %}
