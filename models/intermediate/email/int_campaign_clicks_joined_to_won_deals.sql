{#
    Campaign conversions: a won deal of a contact who clicked the campaign,
    closed at most var attribution_window_days days after one of those clicks
    (and not before it). A close date at midnight exactly is a date without a
    time (HubSpot's date picker), so a click later that day counts: the deal
    was not closed before it. One row per (campaign, deal, contact): a deal
    can be influenced by several campaigns and, through several of its
    contacts, reached more than once; consumers count distinct deals.
#}

with

clicks as (

    select
        campaign_id,
        contact_id,
        event_at as clicked_at
    from {{ ref('int_email_engagement_events') }}
    where
        event_type = 'CLICK'
        and contact_id is not null

),

won_deals as (

    select
        deal_id,
        amount,
        closed_at
    from {{ ref('int_deals_joined_to_stages') }}
    where
        is_won
        and closed_at is not null

),

deal_contacts as (

    select
        deal_id,
        contact_id
    from {{ ref('int_deal_contacts_resolved') }}

),

contact_won_deals as (

    select
        deal_contacts.contact_id,
        won_deals.deal_id,
        won_deals.amount,
        won_deals.closed_at,
        won_deals.closed_at
        = cast(cast(won_deals.closed_at as date) as {{ dbt.type_timestamp() }})
            as is_closed_on_a_date
    from deal_contacts
    inner join won_deals
        on deal_contacts.deal_id = won_deals.deal_id

),

final as (

    select
        clicks.campaign_id,
        contact_won_deals.deal_id,
        contact_won_deals.contact_id,
        contact_won_deals.amount,
        min(clicks.clicked_at) as first_attributed_click_at,
        contact_won_deals.closed_at
    from clicks
    inner join contact_won_deals
        on
            clicks.contact_id = contact_won_deals.contact_id
            and (
                clicks.clicked_at <= contact_won_deals.closed_at
                or (
                    contact_won_deals.is_closed_on_a_date
                    and cast(clicks.clicked_at as date)
                    = cast(contact_won_deals.closed_at as date)
                )
            )
            and contact_won_deals.closed_at <= {{ dbt.dateadd(
                'day', var('attribution_window_days'), 'clicks.clicked_at') }}
    group by 1, 2, 3, 4, 6

)

select * from final
