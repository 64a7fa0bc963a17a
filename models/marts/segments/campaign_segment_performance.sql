{#
    Campaign × segment: the campaign metrics (same definitions as
    campaign_performance) over the messages whose recipient was in the
    segment when the message was sent, read from segment_membership_history
    (the membership recorded for the day before the send: see
    sends_in_segments_sql; a contact created on the send day, such as the
    recipient of a welcome email, was in no segment yet). For campaigns first sent before the history
    reaches (on or before its first day), current membership
    (contact_segments) stands in; `membership_basis` says which was used
    ('history' or 'current'). Messages to non-contacts belong to no segment.

    Cost: every message fans out to each segment of its contact (30M rows at
    a million contacts), so everything is counted in one pass over them.
    Distinct addresses are counted as rows for the addresses that got a
    campaign once (nearly all) and as distinct values only for the few that
    got it more than once; repeats are found on a hash of the address (a
    collision only sends two addresses down the exact, distinct path).
#}
with

all_sends as (

    select
        campaign_id,
        contact_id,
        recipient_email,
        is_delivered,
        is_bounced,
        is_hard_bounced,
        is_soft_bounced,
        is_dropped,
        is_opened,
        is_clicked,
        is_unsubscribed,
        is_spam_reported,
        open_count,
        click_count,
        sent_at
    from {{ ref('fct_email_sends') }}
    where contact_id is not null

),

history as (

    select
        contact_id,
        segment_key,
        valid_from,
        valid_to
    from {{ ref('segment_membership_history') }}

),

current_members as (

    select
        contact_id,
        segment_key
    from {{ ref('contact_segments') }}

),

conversions as (

    select distinct
        campaign_id,
        contact_id,
        deal_id,
        amount
    from {{ ref('int_campaign_clicks_joined_to_won_deals') }}

),

repeat_recipients as (

    select
        campaign_id,
        {{ fast_hash('recipient_email') }} as recipient_hash
    from all_sends
    group by 1, 2
    having count(*) > 1

),

sends as (

    select
        all_sends.*,
        repeat_recipients.recipient_hash is not null as is_repeat_recipient
    from all_sends
    left join repeat_recipients
        on
            all_sends.campaign_id = repeat_recipients.campaign_id
            and {{ fast_hash('all_sends.recipient_email') }}
            = repeat_recipients.recipient_hash

),

history_start as (

    select min(valid_from) as history_started_on from history

),

campaign_bases as (

    select
        sends.campaign_id,
        case
            when
                min(cast(sends.sent_at as date))
                > min(history_start.history_started_on)
                then 'history'
            else 'current'
        end as membership_basis
    from sends
    cross join history_start
    group by 1

),

sends_with_basis as (

    select
        sends.*,
        campaign_bases.membership_basis
    from sends
    inner join campaign_bases
        on sends.campaign_id = campaign_bases.campaign_id

),

sends_in_segments as (

    {{ sends_in_segments_sql(
        'sends_with_basis', 'history', 'current_members') }}

),

converted_pairs as (

    {#-
        Conversions are few: the sends they came from are assigned to
        segments on their own, not looked up in the fan-out of every send.
    #}
    select distinct
        campaign_id,
        contact_id
    from conversions

),

converted_sends as (

    select sends_with_basis.*
    from sends_with_basis
    inner join converted_pairs
        on
            sends_with_basis.campaign_id = converted_pairs.campaign_id
            and sends_with_basis.contact_id = converted_pairs.contact_id

),

converted_sends_in_segments as (

    {{ sends_in_segments_sql(
        'converted_sends', 'history', 'current_members') }}

),

send_counts as (

    select
        sends_in_segments.campaign_id,
        sends_in_segments.segment_key,
        {{ email_send_counts('sends_in_segments', recipient_counts=false) }},
        {{ email_recipient_counts(
            'sends_in_segments', one_row_per_recipient=true,
            only_if='not sends_in_segments.is_repeat_recipient') }}
    from sends_in_segments
    group by 1, 2

),

repeat_recipient_counts as (

    select
        sends_in_segments.campaign_id,
        sends_in_segments.segment_key,
        {{ email_recipient_counts('sends_in_segments') }}
    from sends_in_segments
    where sends_in_segments.is_repeat_recipient
    group by 1, 2

),

segment_conversions as (

    select distinct
        converted_sends_in_segments.campaign_id,
        converted_sends_in_segments.segment_key,
        conversions.deal_id,
        conversions.amount
    from conversions
    inner join converted_sends_in_segments
        on
            conversions.campaign_id = converted_sends_in_segments.campaign_id
            and conversions.contact_id = converted_sends_in_segments.contact_id

),

conversion_counts as (

    select
        campaign_id,
        segment_key,
        count(*) as conversions,
        cast(sum(coalesce(amount, 0)) as numeric(18, 2))
            as influenced_revenue
    from segment_conversions
    group by 1, 2

),

final as (

    select
        {{ dbt.concat(['send_counts.campaign_id', "':'",
                       'send_counts.segment_key']) }}
            as campaign_segment_id,
        send_counts.campaign_id,
        send_counts.segment_key,
        campaign_bases.membership_basis,
        {%- for column in email_send_count_columns() %}
        {%- if column in email_recipient_count_flags() %}
        send_counts.{{ column }}
        + coalesce(repeat_recipient_counts.{{ column }}, 0) as {{ column }},
        {%- else %}
        send_counts.{{ column }},
        {%- endif %}
        {%- endfor %}
        coalesce(conversion_counts.conversions, 0) as conversions,
        cast(
            coalesce(conversion_counts.influenced_revenue, 0) as numeric(18, 2)
        ) as influenced_revenue,
        {{ email_send_rates() }},
        send_counts.first_sent_at,
        send_counts.last_sent_at
    from send_counts
    inner join campaign_bases
        on send_counts.campaign_id = campaign_bases.campaign_id
    left join repeat_recipient_counts
        on
            send_counts.campaign_id = repeat_recipient_counts.campaign_id
            and send_counts.segment_key = repeat_recipient_counts.segment_key
    left join conversion_counts
        on
            send_counts.campaign_id = conversion_counts.campaign_id
            and send_counts.segment_key = conversion_counts.segment_key

)

select * from final
