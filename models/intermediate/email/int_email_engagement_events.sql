{#
    The opens and clicks that count as engagement: on delivered messages,
    bot events excluded (var include_filtered_events), attributed to the
    contact owning the recipient address. The basis of contact engagement,
    clicked link topics and campaign conversions.

    Incremental: a run rebuilds the rows of the messages that fct_email_sends
    rewrote since this model last ran (`dbt_updated_at`) and of those whose
    contact or campaign changed there (an address that changed owner). Every such
    message is first emitted once with a null event_id, so delete+insert
    drops all its old rows even when none qualifies any more; the post-hook
    then removes those markers. So it always equals a full refresh.
#}
{{
    config(
        materialized='incremental',
        unique_key='send_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook="delete from {{ this }} where event_id is null",
    )
}}

with

sends as (

    {#- Incremental: only the touched messages, with what the rows take from
        them. Joined to the events alone, a few thousand messages drive the
        join (joined to all sends as well, DuckDB joined the 3M opens and
        clicks to the 5M sends first). #}
    select
        send_id,
        campaign_id,
        contact_id,
        is_delivered,
        last_load_id
    from {{ ref('fct_email_sends') }}
    {% if is_incremental() %}
    where {{ stamped_since_last_run('dbt_updated_at') }}

    union

    select
        sends.send_id,
        sends.campaign_id,
        sends.contact_id,
        sends.is_delivered,
        sends.last_load_id
    from {{ this }} as this
    inner join {{ ref('fct_email_sends') }} as sends
        on this.send_id = sends.send_id
    where
        this.contact_id is distinct from sends.contact_id
        or this.campaign_id is distinct from sends.campaign_id
    {% endif %}

),

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

engagement_events as (

    select
        events.event_id,
        sends.send_id,
        sends.campaign_id,
        sends.contact_id,
        events.event_type,
        events.url,
        events.event_at,
        sends.last_load_id,
        {{ run_stamp() }} as dbt_updated_at
    from events
    inner join sends
        on events.sent_by_event_id = sends.send_id
    where sends.is_delivered

),

final as (

    select * from engagement_events
    {% if is_incremental() %}
    union all
    select
        cast(null as {{ dbt.type_string() }}) as event_id,
        send_id,
        cast(null as {{ dbt.type_string() }}) as campaign_id,
        cast(null as {{ dbt.type_string() }}) as contact_id,
        cast(null as {{ dbt.type_string() }}) as event_type,
        cast(null as {{ dbt.type_string() }}) as url,
        cast(null as {{ dbt.type_timestamp() }}) as event_at,
        cast(null as {{ dbt.type_string() }}) as last_load_id,
        {{ run_stamp() }} as dbt_updated_at
    from sends
    {% endif %}

)

select * from final
