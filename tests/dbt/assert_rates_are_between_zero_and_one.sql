{#
    Every rate of campaign_performance and campaign_segment_performance is a
    share.
#}

{%- set models = {
    'campaign_performance': 'campaign_id',
    'campaign_segment_performance': 'campaign_segment_id',
} %}

with

rates as (

    {%- for model_name, key in models.items() %}
    {%- set outer_loop = loop %}
    {%- for rate in email_rate_columns() %}
    select
        '{{ model_name }}' as model_name,
        {{ key }} as row_id,
        '{{ rate }}' as rate_name,
        {{ rate }} as rate
    from {{ ref(model_name) }}
    {% if not (loop.last and outer_loop.last) %}union all{% endif %}
    {%- endfor %}
    {%- endfor %}

)

select *
from rates
where rate < 0 or rate > 1
