{#
    One row per message sent: a SENT event and everything that happened to it
    (events linked through `sentBy`). Rules:
    - delivered: a DELIVERED event; bounced: a BOUNCE event, hard when its
      category is hard in seed bounce_categories (else soft); a deferral only
      delays, so a bounce after a deferral is a bounce.
    - opened, clicked, unsubscribed, spam-reported count only on delivered
      messages (an open without a delivery is a tracking artefact); a click
      implies an open, as in HubSpot (images may be blocked).
    - bot events are excluded (var include_filtered_events).
    - contact_id: the contact owning the recipient address
      (int_contacts_resolved.is_email_owner); null for non-contacts.
    Incremental: a run rebuilds only the messages whose SENT event or pivoted
    events were written since it last ran (`dbt_updated_at`: so a full
    refresh upstream reaches it too), and those whose address changed owner
    (a merge, a new or archived contact), so it always equals a full refresh.
#}
{{
    config(
        materialized='incremental',
        unique_key='send_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

email_owners as (

    select
        contact_id,
        email
    from {{ ref('int_contacts_resolved') }}
    where is_email_owner

),

{% if is_incremental() %}

touched_sends as (

    select events.event_id as send_id
    from {{ ref('fct_email_events') }} as events
    where
        events.event_type = 'SENT'
        and {{ stamped_since_last_run('events.dbt_updated_at') }}

    union

    select pivoted.sent_by_event_id as send_id
    from {{ ref('int_email_events_pivoted_to_sends') }} as pivoted
    where {{ stamped_since_last_run('pivoted.dbt_updated_at') }}

    union

    select this.send_id
    from {{ this }} as this
    left join email_owners
        on this.recipient_email = email_owners.email
    where this.contact_id is distinct from email_owners.contact_id

),

{% endif %}

sent_events as (

    select
        event_id as send_id,
        campaign_id,
        recipient_email,
        load_id,
        event_at as sent_at
    from {{ ref('fct_email_events') }}
    where
        event_type = 'SENT'
    {% if is_incremental() %}
        and event_id in (select send_id from touched_sends)
        {% endif %}

),

send_events as (

    select * from {{ ref('int_email_events_pivoted_to_sends') }}
    {% if is_incremental() %}
    where sent_by_event_id in (select send_id from touched_sends)
    {% endif %}

),

sends_joined as (

    select
        sent_events.send_id,
        sent_events.campaign_id,
        email_owners.contact_id,
        sent_events.recipient_email,
        coalesce(send_events.open_event_count, 0) as open_count,
        coalesce(send_events.click_event_count, 0) as click_count,
        coalesce(send_events.deferred_event_count, 0) as deferral_count,
        coalesce(send_events.delivered_event_count, 0) > 0 as is_delivered,
        coalesce(send_events.bounce_event_count, 0) > 0 as is_bounced,
        coalesce(send_events.hard_bounce_event_count, 0) > 0 as is_hard_bounced,
        coalesce(send_events.dropped_event_count, 0) > 0 as is_dropped,
        coalesce(send_events.open_event_count, 0) > 0 as has_open_event,
        coalesce(send_events.click_event_count, 0) > 0 as has_click_event,
        coalesce(send_events.unsubscribe_event_count, 0) > 0
            as has_unsubscribe_event,
        coalesce(send_events.spamreport_event_count, 0) > 0
            as has_spam_report_event,
        sent_events.sent_at,
        case
            when send_events.last_load_id > sent_events.load_id
                then send_events.last_load_id
            else sent_events.load_id
        end as last_load_id,
        send_events.delivered_at,
        send_events.first_open_event_at,
        send_events.first_clicked_at
    from sent_events
    left join send_events
        on sent_events.send_id = send_events.sent_by_event_id
    left join email_owners
        on sent_events.recipient_email = email_owners.email

),

final as (

    select
        send_id,
        campaign_id,
        contact_id,
        recipient_email,
        open_count,
        click_count,
        deferral_count,
        is_delivered,
        is_bounced,
        is_hard_bounced,
        is_bounced and not is_hard_bounced as is_soft_bounced,
        is_dropped,
        is_delivered and (has_open_event or has_click_event) as is_opened,
        is_delivered and has_click_event as is_clicked,
        is_delivered and has_unsubscribe_event as is_unsubscribed,
        is_delivered and has_spam_report_event as is_spam_reported,
        sent_at,
        delivered_at,
        case
            when is_delivered and (has_open_event or has_click_event)
                then {{ least_not_null(
                    'first_open_event_at', 'first_clicked_at') }}
        end as first_opened_at,
        case when is_delivered then first_clicked_at end as first_clicked_at,
        last_load_id,
        {{ run_stamp() }} as dbt_updated_at
    from sends_joined

)

select * from final
