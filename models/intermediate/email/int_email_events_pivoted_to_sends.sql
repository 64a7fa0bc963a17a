{#
    The fate of each message, from the events that point at its SENT event
    through `sentBy` (Fivetran's send key): one row per sent_by_event_id.
    Bot events (`filteredEvent`) are left out unless var
    include_filtered_events is true. Flags here are raw facts; the business
    rules (engagement only counts on delivered messages) live in
    fct_email_sends.

    Incremental: a run recomputes only the messages that received events in
    loads newer than the newest one counted (`last_load_id`), from all of
    their events, so it equals a full refresh. Changing var
    include_filtered_events or seed bounce_categories needs `--full-refresh`.
#}
{{
    config(
        materialized='incremental',
        unique_key='sent_by_event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

{% if is_incremental() %}

touched_sends as (

    select distinct events.sent_by_event_id
    from {{ ref('fct_email_events') }} as events
    where
        events.sent_by_event_id is not null
        and events.load_id > {{ high_water_mark('last_load_id') }}

),

{% endif %}

events as (

    select
        sent_by_event_id,
        load_id,
        event_type,
        bounce_category,
        subscription_status,
        event_at
    from {{ ref('fct_email_events') }}
    where
        sent_by_event_id is not null
        {% if is_incremental() %}
        and sent_by_event_id in (select sent_by_event_id from touched_sends)
        {% endif %}
        {% if not var('include_filtered_events') %}
        and not is_filtered
        {% endif %}

),

bounce_categories as (

    select * from {{ ref('bounce_categories') }}

),

events_classified as (

    select
        events.sent_by_event_id,
        events.load_id,
        events.event_type,
        events.event_at,
        events.event_type = 'BOUNCE'
        and coalesce(bounce_categories.bounce_type, 'soft') = 'hard'
            as is_hard_bounce,
        events.event_type = 'STATUSCHANGE'
        and upper(events.subscription_status) = 'UNSUBSCRIBED'
            as is_unsubscribe
    from events
    left join bounce_categories
        on upper(events.bounce_category) = bounce_categories.bounce_category

),

final as (

    select
        sent_by_event_id,
        max(load_id) as last_load_id,
        {%- for event_type in ['SENT', 'DELIVERED', 'BOUNCE', 'DROPPED',
                               'DEFERRED', 'OPEN', 'CLICK', 'SPAMREPORT'] %}
        count(case when event_type = '{{ event_type }}' then 1 end)
            as {{ event_type | lower }}_event_count,
        {%- endfor %}
        count(case when is_hard_bounce then 1 end) as hard_bounce_event_count,
        count(case when is_unsubscribe then 1 end) as unsubscribe_event_count,
        min(case when event_type = 'DELIVERED' then event_at end)
            as delivered_at,
        min(case when event_type = 'OPEN' then event_at end)
            as first_open_event_at,
        min(case when event_type = 'CLICK' then event_at end)
            as first_clicked_at,
        {{ run_stamp() }} as dbt_updated_at
    from events_classified
    group by 1

)

select * from final
