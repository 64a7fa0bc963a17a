{# Every contact in a segment has exactly one primary segment. #}

select
    contact_id,
    count(case when is_primary_segment then 1 end) as primary_segments
from {{ ref('contact_segments') }}
group by 1
having count(case when is_primary_segment then 1 end) <> 1
