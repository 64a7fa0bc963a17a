{#
    Deliverability status per email address as of the as-of date, from the
    events: unsubscribed when the address's latest portal subscription change
    is UNSUBSCRIBED; hard-bounced once a hard bounce happened (seed
    bounce_categories). Status belongs to the address, so every contact
    sharing it shares the status.
#}

with

events as (

    select
        event_id,
        recipient_email,
        event_type,
        bounce_category,
        subscription_status,
        event_at
    from {{ ref('fct_email_events') }}
    where
        event_type in ('STATUSCHANGE', 'BOUNCE')
        and recipient_email is not null
        and event_at < {{ as_of_end() }}

),

bounce_categories as (

    select * from {{ ref('bounce_categories') }}
    where bounce_type = 'hard'

),

subscription_changes_ranked as (

    select
        recipient_email,
        upper(subscription_status) as subscription_status,
        event_at,
        row_number() over (
            partition by recipient_email
            order by event_at desc, event_id desc
        ) as change_rank
    from events
    where
        event_type = 'STATUSCHANGE'
        and subscription_status is not null

),

latest_subscription_changes as (

    select
        recipient_email,
        subscription_status = 'UNSUBSCRIBED' as is_unsubscribed,
        event_at as subscription_changed_at
    from subscription_changes_ranked
    where change_rank = 1

),

hard_bounces as (

    select
        events.recipient_email,
        min(events.event_at) as first_hard_bounced_at
    from events
    inner join bounce_categories
        on upper(events.bounce_category) = bounce_categories.bounce_category
    where events.event_type = 'BOUNCE'
    group by 1

),

addresses as (

    select recipient_email from latest_subscription_changes
    union
    select recipient_email from hard_bounces

),

final as (

    select
        addresses.recipient_email,
        coalesce(latest_subscription_changes.is_unsubscribed, false)
            as is_unsubscribed,
        hard_bounces.first_hard_bounced_at is not null as is_hard_bounced,
        latest_subscription_changes.subscription_changed_at,
        hard_bounces.first_hard_bounced_at
    from addresses
    left join latest_subscription_changes
        on
            addresses.recipient_email
            = latest_subscription_changes.recipient_email
    left join hard_bounces
        on addresses.recipient_email = hard_bounces.recipient_email

)

select * from final
