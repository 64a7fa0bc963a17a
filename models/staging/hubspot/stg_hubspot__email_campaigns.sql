{# One row per email campaign, with HubSpot's counters (kept for audits). #}
{%- set columns = relation_column_names(
    source('hubspot', 'email_campaigns')) -%}
{%- set counters = ['sent', 'delivered', 'open', 'click', 'bounce', 'dropped',
                    'spamreport', 'unsubscribed'] -%}

with

source as (

    select * from {{ source('hubspot', 'email_campaigns') }}

),

renamed as (

    select
        ----------  ids
        cast(id as {{ dbt.type_string() }}) as campaign_id,
        cast(
            {{ column_or_null(columns, 'content_id', 'bigint') }}
            as {{ dbt.type_string() }}
        ) as content_id,

        ----------  strings
        {{ clean_text(column_or_null(columns, 'name')) }} as campaign_name,
        {{ clean_text(column_or_null(columns, 'subject')) }} as subject,
        {{ clean_text(column_or_null(columns, 'type')) }} as campaign_type,
        {{ clean_text(column_or_null(columns, 'sub_type')) }}
            as campaign_sub_type,
        {{ clean_text(column_or_null(columns, 'app_name')) }} as app_name,

        ----------  numerics
        {%- for counter in counters %}
        cast(
            {{ column_or_null(columns, 'counters__' ~ counter, 'bigint') }}
            as bigint
        ) as hubspot_{{ counter }}_count,
        {%- endfor %}
        cast(
            {{ column_or_null(columns, 'num_included', 'bigint') }} as bigint
        ) as num_included,

        ----------  timestamps
        {{ epoch_ms_to_timestamp(
            column_or_null(columns, 'last_updated_time', 'bigint')) }}
            as last_updated_at

    from source

)

select * from renamed
