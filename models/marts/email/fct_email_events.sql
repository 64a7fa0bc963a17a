{#
    Every email event once, all types, bot events included and flagged.
    Deduplicated on event_id: of several copies, the one from the latest dlt
    load wins, then the latest event time. Only rows of completed dlt loads
    are read. Incremental: each run reads only the rows of completed loads
    newer than the newest load it holds and replaces the events it had, so it
    always equals a full refresh.
#}
{{
    config(
        materialized='incremental',
        unique_key='event_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}

with

completed_loads as (

    select load_id from {{ ref('stg_hubspot__dlt_loads') }}
    where is_completed
    {% if is_incremental() %}
    and load_id > (
        select coalesce(max(this.load_id), '') from {{ this }} as this
    )
    {% endif %}

),

events as (

    select events.*
    from {{ ref('stg_hubspot__email_events') }} as events
    inner join completed_loads
        on events.load_id = completed_loads.load_id

),

duplicated_event_ids as (

    {#-
        Nearly every event comes once: rank only the duplicated ones (a
        window over every event would sort millions of wide rows).
    #}
    select event_id
    from events
    group by 1
    having count(*) > 1

),

single_events as (

    select events.*
    from events
    left join duplicated_event_ids
        on events.event_id = duplicated_event_ids.event_id
    where duplicated_event_ids.event_id is null

),

duplicated_copies_ranked as (

    select
        events.event_id,
        events.load_id,
        events.event_at,
        row_number() over (
            partition by events.event_id
            order by events.load_id desc, events.event_at desc
        ) as copy_rank
    from events
    inner join duplicated_event_ids
        on events.event_id = duplicated_event_ids.event_id

),

duplicated_events_kept as (

    {#- (event_id, load_id, event_at) is unique: dlt merges on (id, created). #}
    select events.*
    from events
    inner join duplicated_copies_ranked
        on
            events.event_id = duplicated_copies_ranked.event_id
            and events.load_id = duplicated_copies_ranked.load_id
            and events.event_at = duplicated_copies_ranked.event_at
    where duplicated_copies_ranked.copy_rank = 1

),

deduplicated_events as (

    select * from single_events
    union all
    select * from duplicated_events_kept

),

final as (

    select
        event_id,
        sent_by_event_id,
        caused_by_event_id,
        obsoleted_by_event_id,
        campaign_id,
        load_id,
        event_type,
        recipient_email,
        bounce_category,
        drop_reason,
        subscription_status,
        subscription_change_source,
        url,
        device_type,
        smtp_response,
        deferral_attempt,
        open_duration_ms,
        is_filtered,
        event_at,
        sent_by_event_at,
        {{ run_stamp() }} as dbt_updated_at
    from deduplicated_events

)

select * from final
