{#
    One row per contact record as HubSpot served it, archived ones included
    (flagged). Properties are typed here; no record is dropped or merged.
#}
{%- set columns = relation_column_names(source('hubspot', 'contacts')) -%}

with

source as (

    select * from {{ source('hubspot', 'contacts') }}

),

renamed as (

    select
        ----------  ids
        cast(id as {{ dbt.type_string() }}) as contact_id,
        {{ hubspot_property(columns, 'associatedcompanyid') }}
            as primary_company_id,
        {{ hubspot_property(columns, 'hs_merged_object_ids') }}
            as merged_contact_ids,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as load_id,

        ----------  strings
        {{ normalize_email(property_column(columns, 'email')) }}
            as email,
        {{ property_column(columns, 'email') }} as email_as_entered,
        {{ hubspot_property(columns, 'firstname') }} as first_name,
        {{ hubspot_property(columns, 'lastname') }} as last_name,
        {{ hubspot_property(columns, 'company') }} as company_name,
        {{ hubspot_property(columns, 'jobtitle') }} as job_title,
        {{ hubspot_property(columns, 'city') }} as city,
        {{ hubspot_property(columns, 'state') }} as state,
        {{ hubspot_property(columns, 'country') }} as country,
        {{ hubspot_property(columns, 'industry') }} as industry,
        {{ hubspot_property(columns, 'numemployees') }} as company_size_band,
        lower({{ hubspot_property(columns, 'lifecyclestage') }})
            as lifecycle_stage,
        {{ hubspot_property(columns, 'hs_lead_status') }} as lead_status,
        {{ hubspot_property(columns, 'hs_analytics_source') }}
            as original_source,
        {{ hubspot_property(columns, 'hs_email_hard_bounce_reason_enum') }}
            as hard_bounce_reason,
        {{ hubspot_property(columns, 'interests') }} as interests,
        {{ hubspot_property(columns, 'preferred_language') }}
            as preferred_language,
        {{ hubspot_property(columns, 'customer_tier') }} as customer_tier,

        ----------  numerics
        {{ text_to_numeric(property_column(columns, 'nps_score'), 5, 1) }}
            as nps_score,

        ----------  booleans
        coalesce(
            {{ text_to_boolean(
                property_column(columns, 'hs_email_optout')) }},
            false
        ) as is_unsubscribed_from_all_email,
        coalesce(archived, false) as is_archived,

        ----------  dates
        cast(
            {{ text_to_timestamp(
                property_column(columns, 'newsletter_signup_date')) }}
            as date
        ) as newsletter_signup_date,

        ----------  timestamps
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        {{ to_utc_timestamp('archived_at') }} as archived_at,
        {{ text_to_timestamp(
            property_column(columns, 'hs_email_last_send_date')) }}
            as last_email_sent_at,
        {{ text_to_timestamp(
            property_column(columns, 'hs_email_last_open_date')) }}
            as last_email_opened_at,
        {{ text_to_timestamp(
            property_column(columns, 'hs_email_last_click_date')) }}
            as last_email_clicked_at

    from source

)

select * from renamed
