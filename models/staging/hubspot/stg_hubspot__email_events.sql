{#
    One row per raw email event (every type), typed. Recipients are
    normalised with the project-wide email rule. Duplicates are kept here and
    removed in fct_email_events (deduplicated on event_id).
#}
{%- set columns = relation_column_names(source('hubspot', 'email_events')) -%}
{%- set string_type = dbt.type_string() -%}

with

source as (

    select * from {{ source('hubspot', 'email_events') }}

),

renamed as (

    select
        ----------  ids
        cast(id as {{ string_type }}) as event_id,
        {%- for link in ['sent_by', 'caused_by', 'obsoleted_by'] %}
        cast({{ column_or_null(columns, link ~ '__id') }} as {{ string_type }})
            as {{ link }}_event_id,
        {%- endfor %}
        cast(email_campaign_id as {{ string_type }}) as campaign_id,
        cast(_dlt_load_id as {{ string_type }}) as load_id,

        ----------  strings
        upper({{ clean_text('type') }}) as event_type,
        {{ normalize_email('recipient') }} as recipient_email,
        {{ clean_text(column_or_null(columns, 'category')) }}
            as bounce_category,
        {{ clean_text(column_or_null(columns, 'drop_reason')) }} as drop_reason,
        {{ clean_text(column_or_null(columns, 'portal_subscription_status')) }}
            as subscription_status,
        {{ clean_text(column_or_null(columns, 'source')) }}
            as subscription_change_source,
        {{ clean_text(column_or_null(columns, 'url')) }} as url,
        {{ clean_text(column_or_null(columns, 'device_type')) }} as device_type,
        {{ clean_text(column_or_null(columns, 'response')) }} as smtp_response,

        ----------  numerics
        cast({{ column_or_null(columns, 'attempt', 'bigint') }} as integer)
            as deferral_attempt,
        cast({{ column_or_null(columns, 'duration', 'bigint') }} as bigint)
            as open_duration_ms,

        ----------  booleans
        coalesce(
            cast(
                {{ column_or_null(columns, 'filtered_event', 'boolean') }}
                as boolean
            ),
            false
        ) as is_filtered,

        ----------  timestamps
        {{ epoch_ms_to_timestamp('created') }} as event_at,
        {{ epoch_ms_to_timestamp(
            column_or_null(columns, 'sent_by__created', 'bigint')) }}
            as sent_by_event_at

    from source

)

select * from renamed
