{# The RFM map gives each customer one segment: no contact is in two. #}

select
    contact_id,
    count(*) as rfm_segments
from {{ ref('contact_segments') }}
where segment_category = 'rfm'
group by 1
having count(*) > 1
