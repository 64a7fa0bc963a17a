{#
    One row per email campaign: sends, deliveries, bounces, drops, opens,
    clicks, unsubscribes, spam reports, their rates, and the won deals the
    campaign influenced. Campaigns known from the campaigns API but without
    events have zero counts and null rates.
#}

with

campaigns as (

    select * from {{ ref('stg_hubspot__email_campaigns') }}

),

sends as (

    select * from {{ ref('fct_email_sends') }}

),

conversions as (

    select distinct
        campaign_id,
        deal_id,
        amount
    from {{ ref('int_campaign_clicks_joined_to_won_deals') }}

),

send_counts as (

    select
        sends.campaign_id,
        {{ email_send_counts('sends') }}
    from sends
    group by 1

),

conversion_counts as (

    select
        campaign_id,
        count(*) as conversions,
        cast(sum(coalesce(amount, 0)) as numeric(18, 2))
            as influenced_revenue
    from conversions
    group by 1

),

campaign_ids as (

    select campaign_id from campaigns
    union
    select campaign_id from send_counts

),

counts_joined as (

    select
        campaign_ids.campaign_id,
        campaigns.campaign_name,
        campaigns.subject,
        campaigns.campaign_type,
        {%- for column in email_send_count_columns() %}
        coalesce(send_counts.{{ column }}, 0) as {{ column }},
        {%- endfor %}
        coalesce(conversion_counts.conversions, 0) as conversions,
        cast(
            coalesce(conversion_counts.influenced_revenue, 0) as numeric(18, 2)
        ) as influenced_revenue,
        send_counts.first_sent_at,
        send_counts.last_sent_at
    from campaign_ids
    left join campaigns
        on campaign_ids.campaign_id = campaigns.campaign_id
    left join send_counts
        on campaign_ids.campaign_id = send_counts.campaign_id
    left join conversion_counts
        on campaign_ids.campaign_id = conversion_counts.campaign_id

),

final as (

    select
        campaign_id,
        campaign_name,
        subject,
        campaign_type,
        {%- for column in email_send_count_columns() %}
        {{ column }},
        {%- endfor %}
        conversions,
        influenced_revenue,
        {{ email_send_rates() }},
        first_sent_at,
        last_sent_at
    from counts_joined

)

select * from final
