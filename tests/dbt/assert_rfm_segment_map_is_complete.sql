{# seed rfm_segment_map has a segment for each of the 25 (R, FM) score pairs. #}

with

scores as (

    select 1 as score
    union all
    select 2 as score
    union all
    select 3 as score
    union all
    select 4 as score
    union all
    select 5 as score

),

pairs as (

    select
        recency.score as recency_score,
        frequency_monetary.score as frequency_monetary_score
    from scores as recency
    cross join scores as frequency_monetary

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

)

select pairs.*
from pairs
left join segment_map
    on
        pairs.recency_score = segment_map.recency_score
        and pairs.frequency_monetary_score
        = segment_map.frequency_monetary_score
where segment_map.rfm_segment is null
