{#
    The email funnel never widens: unique clicks ≤ unique opens ≤ delivered
    ≤ sends, and bounces and drops fit in the undelivered messages, for every
    campaign and every campaign × segment.
#}

with

campaigns as (

    select
        'campaign_performance' as model_name,
        campaign_id as row_id,
        sends,
        delivered,
        bounces,
        drops,
        unique_opens,
        unique_clicks
    from {{ ref('campaign_performance') }}

),

campaign_segments as (

    select
        'campaign_segment_performance' as model_name,
        campaign_segment_id as row_id,
        sends,
        delivered,
        bounces,
        drops,
        unique_opens,
        unique_clicks
    from {{ ref('campaign_segment_performance') }}

),

funnels as (

    select * from campaigns
    union all
    select * from campaign_segments

)

select *
from funnels
where
    unique_clicks > unique_opens
    or unique_opens > delivered
    or delivered > sends
    or delivered + bounces > sends
