{#
    Email activity and engagement level per live contact as of the as-of date.
    Windows are whole days ending with the as-of day: "the last 30 days" is
    the as-of day and the 29 days before it.

    Engagement levels (first match wins):
    - unreachable: no email address, unsubscribed or hard-bounced;
    - highly_engaged: a click, or at least var highly_engaged_min_opens opens,
      in the last var highly_engaged_days days;
    - engaged: an open or click in the last var dormant_after_days days;
    - dormant: engaged before, silent for var dormant_after_days days or more
      (the re-engagement target);
    - never_engaged: never opened nor clicked.
    Opens and clicks are engagement events (delivered, not bots).
#}

{%- set windows = [30, 90, 180] -%}

with

contacts as (

    select
        contact_id,
        email,
        hard_bounce_reason,
        is_unsubscribed_from_all_email,
        updated_at
    from {{ ref('int_contacts_resolved') }}

),

sends as (

    select
        contact_id,
        max(sent_at) as last_sent_at,
        count(*) as send_count
    from {{ ref('fct_email_sends') }}
    where
        contact_id is not null
        and sent_at < {{ as_of_end() }}
    group by 1

),

engagement_events as (

    select
        contact_id,
        event_type,
        event_at,
        {{ dbt.datediff('cast(event_at as date)', as_of_date(), 'day') }}
            as days_ago
    from {{ ref('int_email_engagement_events') }}
    where
        contact_id is not null
        and event_at < {{ as_of_end() }}

),

engagement as (

    select
        contact_id,
        max(case when event_type = 'OPEN' then event_at end) as last_opened_at,
        max(case when event_type = 'CLICK' then event_at end)
            as last_clicked_at,
        max(event_at) as last_engaged_at,
        {%- for days in windows %}
        {%- for kind in ['open', 'click'] %}
        count(
            case
                when event_type = '{{ kind | upper }}' and days_ago < {{ days }}
                    then 1
            end
        ) as {{ kind }}s_last_{{ days }}_days,
        {%- endfor %}
        {%- endfor %}
        {%- for kind in ['open', 'click'] %}
        count(
            case
                when
                    event_type = '{{ kind | upper }}'
                    and days_ago < {{ var('highly_engaged_days') }}
                    then 1
            end
        ) as recent_{{ kind }}_count,
        {%- endfor %}
        cast(min(days_ago) as integer) as days_since_last_engagement
    from engagement_events
    group by 1

),

address_statuses as (

    select * from {{ ref('int_email_addresses_statused') }}

),

properties_in_force as (

    {#- The opt-out and hard-bounce properties hold today's values. They held
        on the as-of date too when the contact was not modified since (any
        property change moves lastmodifieddate); otherwise a backfill would
        see unsubscribes and bounces from after its date, so only the events,
        cut at the as-of date, count. Unknown modification time: trusted. #}
    select
        contact_id,
        coalesce(updated_at < {{ as_of_end() }}, true) as is_in_force
    from contacts

),

contacts_joined as (

    select
        contacts.contact_id,
        contacts.email is not null as has_email,
        coalesce(address_statuses.is_unsubscribed, false)
        or (
            contacts.is_unsubscribed_from_all_email
            and properties_in_force.is_in_force
        ) as is_unsubscribed,
        coalesce(address_statuses.is_hard_bounced, false)
        or (
            contacts.hard_bounce_reason is not null
            and properties_in_force.is_in_force
        ) as is_hard_bounced,
        coalesce(sends.send_count, 0) as send_count,
        {%- for days in windows %}
        coalesce(engagement.opens_last_{{ days }}_days, 0)
            as opens_last_{{ days }}_days,
        coalesce(engagement.clicks_last_{{ days }}_days, 0)
            as clicks_last_{{ days }}_days,
        {%- endfor %}
        coalesce(engagement.recent_open_count, 0) as recent_open_count,
        coalesce(engagement.recent_click_count, 0) as recent_click_count,
        engagement.days_since_last_engagement,
        sends.last_sent_at,
        engagement.last_opened_at,
        engagement.last_clicked_at,
        engagement.last_engaged_at
    from contacts
    inner join properties_in_force
        on contacts.contact_id = properties_in_force.contact_id
    left join sends
        on contacts.contact_id = sends.contact_id
    left join engagement
        on contacts.contact_id = engagement.contact_id
    left join address_statuses
        on contacts.email = address_statuses.recipient_email

),

final as (

    select
        contact_id,
        case
            when not has_email then 'no_email'
            when is_hard_bounced then 'hard_bounced'
            when is_unsubscribed then 'unsubscribed'
            else 'subscribed'
        end as email_status,
        case
            when not has_email or is_unsubscribed or is_hard_bounced
                then 'unreachable'
            when
                recent_click_count > 0
                or recent_open_count >= {{ var('highly_engaged_min_opens') }}
                then 'highly_engaged'
            when days_since_last_engagement < {{ var('dormant_after_days') }}
                then 'engaged'
            when days_since_last_engagement is not null then 'dormant'
            else 'never_engaged'
        end as engagement_level,
        send_count,
        {%- for days in windows %}
        opens_last_{{ days }}_days,
        clicks_last_{{ days }}_days,
        {%- endfor %}
        days_since_last_engagement,
        has_email,
        is_unsubscribed,
        is_hard_bounced,
        last_sent_at,
        last_opened_at,
        last_clicked_at,
        last_engaged_at
    from contacts_joined

)

select * from final
