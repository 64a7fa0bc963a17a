{#
    One row per live HubSpot contact (archived and merged-away records
    removed) with every feature segment rules use, as of the as-of date.
#}

with

contacts as (

    select * from {{ ref('int_contacts_joined_to_companies') }}

),

engagement as (

    select * from {{ ref('int_contacts_engagement_scored') }}

),

purchases as (

    select * from {{ ref('int_contacts_purchases_aggregated') }}

),

rfm as (

    select * from {{ ref('int_contacts_rfm_scored') }}

),

interests as (

    select
        contact_id,
        {{ sorted_listagg('topic', "';'") }} as interests
    from {{ ref('int_contact_interests') }}
    group by 1

),

final as (

    select
        ----------  ids
        contacts.contact_id,
        contacts.primary_company_id,

        ----------  strings
        contacts.email,
        contacts.first_name,
        contacts.last_name,
        contacts.company_name,
        contacts.job_title,
        contacts.city,
        contacts.country,
        contacts.country_code,
        contacts.region,
        contacts.industry,
        contacts.industry_group,
        contacts.company_size_band,
        coalesce(contacts.lifecycle_stage, 'unknown') as lifecycle_stage,
        contacts.lead_status,
        contacts.original_source,
        contacts.preferred_language,
        contacts.customer_tier,
        engagement.email_status,
        engagement.engagement_level,
        rfm.rfm_segment,
        interests.interests,

        ----------  numerics
        contacts.company_employees,
        contacts.nps_score,
        engagement.send_count,
        engagement.opens_last_30_days,
        engagement.opens_last_90_days,
        engagement.opens_last_180_days,
        engagement.clicks_last_30_days,
        engagement.clicks_last_90_days,
        engagement.clicks_last_180_days,
        engagement.days_since_last_engagement,
        coalesce(purchases.won_deal_count, 0) as won_deal_count,
        cast(coalesce(purchases.revenue, 0) as numeric(18, 2)) as revenue,
        rfm.days_since_last_purchase,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        rfm.frequency_monetary_score,
        rfm.revenue_decile,

        ----------  booleans
        engagement.has_email,
        contacts.is_email_owner,
        engagement.is_unsubscribed,
        engagement.is_hard_bounced,
        purchases.contact_id is not null as is_customer,

        ----------  dates
        {{ as_of_date() }} as as_of_date,

        ----------  timestamps
        engagement.last_sent_at,
        engagement.last_opened_at,
        engagement.last_clicked_at,
        engagement.last_engaged_at,
        purchases.first_purchase_at,
        purchases.last_purchase_at,
        contacts.created_at,
        contacts.updated_at

    from contacts
    left join engagement
        on contacts.contact_id = engagement.contact_id
    left join purchases
        on contacts.contact_id = purchases.contact_id
    left join rfm
        on contacts.contact_id = rfm.contact_id
    left join interests
        on contacts.contact_id = interests.contact_id
    {#- Contacts created after the as-of date did not exist yet. #}
    where contacts.created_at < {{ as_of_end() }}

)

select * from final
