{#
    The opens and clicks that count as engagement: on delivered messages, bot
    events excluded (var include_filtered_events), attributed to the contact
    owning the recipient address. The basis of contact engagement, clicked
    link topics and campaign conversions.
#}

with

events as (

    select
        event_id,
        sent_by_event_id,
        event_type,
        url,
        event_at
    from {{ ref('fct_email_events') }}
    where
        event_type in ('OPEN', 'CLICK')
        {% if not var('include_filtered_events') %}
        and not is_filtered
        {% endif %}

),

sends as (

    select
        send_id,
        campaign_id,
        contact_id
    from {{ ref('fct_email_sends') }}
    where is_delivered

),

final as (

    select
        events.event_id,
        sends.send_id,
        sends.campaign_id,
        sends.contact_id,
        events.event_type,
        events.url,
        events.event_at
    from events
    inner join sends
        on events.sent_by_event_id = sends.send_id

)

select * from final
