{#
    The contacts that exist today, once: archived records and records that were
    merged into another contact are removed. Each email address gets one owner
    for event matching (`is_email_owner`): the oldest live contact with that
    address, then the lowest id (numeric order). HubSpot itself mails an
    address once, so the owner is the contact its events belong to.

    Incremental: a run recomputes the contacts of loads newer than the newest
    it holds (`load_id`), the contacts those merged away, and every contact
    sharing an address (old or new) with one of them, since its owner may have
    changed; the rows it writes are stamped `dbt_updated_at` for the models
    downstream. Those no longer live are written with a null load_id, so
    delete+insert drops their old row, and the post-hook removes them (a full
    build leaves them out), as well as contacts gone from the raw table. So
    it always equals a full refresh.
#}
{{
    config(
        materialized='incremental',
        unique_key='contact_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        post_hook=(
            "delete from {{ this }} where load_id is null"
            " or contact_id not in (select contact_id from "
            "{{ ref('stg_hubspot__contacts') }})"
        ),
    )
}}

with

contact_merges as (

    select
        merged_contact_id,
        contact_id as survivor_contact_id
    from {{ ref('int_contact_merges') }}

),

{% if is_incremental() %}

{#- A table from before the stamps is recomputed whole, once, to stamp every row. #}
{%- set loaded_until = high_water_mark('load_id')
    if this_has_columns(['dbt_updated_at']) else sql_string('') %}

changed_contacts as (

    select
        contact_id,
        email
    from {{ ref('stg_hubspot__contacts') }}
    where load_id > {{ loaded_until }}

),

merged_away_now as (

    select contact_merges.merged_contact_id as contact_id
    from contact_merges
    inner join changed_contacts
        on contact_merges.survivor_contact_id = changed_contacts.contact_id

),

touched_emails as (

    select email from changed_contacts
    where email is not null

    union

    {#- The addresses held here by contacts that changed, were merged away,
        or are gone from the raw table (a full reload of the raw schema
        drops what HubSpot no longer returns; the post-hook deletes them):
        their other holders may own them now. #}
    select this.email
    from {{ this }} as this
    left join {{ ref('stg_hubspot__contacts') }} as contacts
        on this.contact_id = contacts.contact_id
    where
        this.email is not null
        and (
            contacts.contact_id is null
            or contacts.load_id > {{ loaded_until }}
            or this.contact_id in (select contact_id from merged_away_now)
        )

),

touched_contacts as (

    select contact_id from changed_contacts

    union

    select contact_id from merged_away_now

    union

    select contact_id from {{ ref('stg_hubspot__contacts') }}
    where email in (select email from touched_emails)

),

{% endif %}

contacts as (

    select
        contacts.*,
        not contacts.is_archived
        and contact_merges.merged_contact_id is null as is_live
    from {{ ref('stg_hubspot__contacts') }} as contacts
    left join contact_merges
        on contacts.contact_id = contact_merges.merged_contact_id
    {% if is_incremental() %}
    where contacts.contact_id in (select contact_id from touched_contacts)
    {% endif %}

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
    from contacts
    where
        is_live
        and email is not null

),

email_owners_ranked as (

    select
        contacts.*,
        email_owners.email_owner_rank
    from contacts
    left join email_owners
        on contacts.contact_id = email_owners.contact_id

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
        updated_at,
        case when is_live then load_id end as load_id,
        {{ run_stamp() }} as dbt_updated_at
    from email_owners_ranked
    {% if not is_incremental() %}
    where is_live
    {% endif %}

)

select * from final
