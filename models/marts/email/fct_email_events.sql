{#
    Every email event once (deduplicated on event_id: the copy from the latest
    load wins, then the latest event time), all types, bot events included and
    flagged. Only rows of completed dlt loads are read. Incremental: each run
    processes only the rows of completed loads newer than the newest load it
    holds, and replaces events it has seen before, so it equals a full
    refresh.
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

events_ranked as (

    select
        *,
        row_number() over (
            partition by event_id
            order by load_id desc, event_at desc
        ) as copy_rank
    from events

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
        sent_by_event_at
    from events_ranked
    where copy_rank = 1

)

select * from final
