{#
    The contacts that exist today, once: archived records and records that were
    merged into another contact are removed. Each email address gets one owner
    for event matching (`is_email_owner`): the oldest live contact with that
    address, then the lowest id (numeric order). HubSpot itself mails an
    address once, so the owner is the contact its events belong to.
#}

with

contacts as (

    select * from {{ ref('stg_hubspot__contacts') }}
    where not is_archived

),

contact_merges as (

    select merged_contact_id from {{ ref('int_contact_merges') }}

),

contacts_not_merged_away as (

    select contacts.*
    from contacts
    left join contact_merges
        on contacts.contact_id = contact_merges.merged_contact_id
    where contact_merges.merged_contact_id is null

),

email_owners as (

    {#- Ranked on three narrow columns, then joined back: a window over
        whole contact rows sorts every property of a million contacts. #}
    select
        contact_id,
        row_number() over (
            partition by email
            order by
                created_at asc,
                length(contact_id) asc,
                contact_id asc
        ) as email_owner_rank
    from contacts_not_merged_away
    where email is not null

),

email_owners_ranked as (

    select
        contacts_not_merged_away.*,
        email_owners.email_owner_rank
    from contacts_not_merged_away
    left join email_owners
        on contacts_not_merged_away.contact_id = email_owners.contact_id

),

final as (

    select
        contact_id,
        primary_company_id,
        email,
        first_name,
        last_name,
        company_name,
        job_title,
        city,
        state,
        country,
        industry,
        company_size_band,
        lifecycle_stage,
        lead_status,
        original_source,
        hard_bounce_reason,
        interests,
        preferred_language,
        customer_tier,
        nps_score,
        is_unsubscribed_from_all_email,
        coalesce(email_owner_rank = 1, false) as is_email_owner,
        newsletter_signup_date,
        created_at,
        updated_at
    from email_owners_ranked

)

select * from final
