{#
    Live contacts with their firmographics and geography: the primary
    company (the primary association, else the `associatedcompanyid`
    property; a company merged away stands for its survivor) with its name,
    industry and size, the country normalised through seed country_regions
    (names, codes and common spellings) with its region, and the industry
    grouped through seed industry_groups. The
    company's structured values win over what the contact typed; the
    contact's own values fill the gaps.

    Incremental: a run recomputes the contacts int_contacts_resolved
    rewrote since (its stamps), those whose association snapshot came in a
    newer load (`association_load_id`), those whose company came in a newer
    load, was archived or vanished (`company_load_id`), those whose company
    was merged into another, and those whose snapshot vanished; every
    contact when a seed it uses changed (`seeds_checksum`, a hash of the
    seed tables as loaded). Each recomputed contact's row is replaced, or
    deleted when it is no longer live (replace_by_key's tombstones).
#}
{{
    config(
        materialized='incremental',
        unique_key='contact_id',
        incremental_strategy='replace_by_key',
        on_schema_change='append_new_columns',
    )
}}

{#- A table built before these columns existed is rebuilt whole, once. #}
{%- set incremental = is_incremental() and this_has_columns(
    ['association_load_id', 'company_load_id', 'seeds_checksum']) %}

with

all_contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

snapshots as (

    select * from {{ ref('stg_hubspot__contact_associations') }}

),

companies as (

    select * from {{ ref('stg_hubspot__companies') }}
    where not is_archived

),

company_merges as (

    select * from {{ ref('int_company_merges') }}

),

seed_fingerprint as (

    {#- The seeds as loaded: a change recomputes every contact. #}
    select
        {{ dbt.concat([
            table_fingerprint(ref('country_regions'),
                ['country_alias', 'country_code', 'country_name', 'region']),
            "'-'",
            table_fingerprint(ref('industry_groups'),
                ['industry', 'industry_group']),
            "'-'",
            table_fingerprint(ref('company_size_bands'),
                ['company_size_band', 'min_employees', 'max_employees',
                 'band_order']),
        ]) }} as seeds_checksum

),

{% if incremental %}

recorded as (

    select
        contact_id,
        primary_company_id,
        association_load_id,
        company_load_id,
        seeds_checksum
    from {{ this }}

),

dirty as (

    select contact_id from all_contacts
    where {{ stamped_since_last_run('dbt_updated_at') }}
    union
    select contact_id from snapshots
    where load_id > {{ high_water_mark('association_load_id') }}
    union
    select recorded.contact_id
    from recorded
    left join companies
        on recorded.primary_company_id = companies.company_id
    left join snapshots
        on recorded.contact_id = snapshots.contact_id
    cross join seed_fingerprint
    where
        companies.load_id > {{ high_water_mark('company_load_id') }}
        or (recorded.company_load_id is not null and companies.company_id is null)
        or (recorded.association_load_id is not null and snapshots.contact_id is null)
        or recorded.seeds_checksum != seed_fingerprint.seeds_checksum
    union
    {#- Recorded with a company merged away since: given its survivor. #}
    select recorded.contact_id
    from recorded
    inner join company_merges
        on recorded.primary_company_id = company_merges.merged_company_id
    union
    {#- Contacts gone from int_contacts_resolved: tombstones only. #}
    select recorded.contact_id
    from recorded
    left join all_contacts
        on recorded.contact_id = all_contacts.contact_id
    where all_contacts.contact_id is null

),

{% elif is_incremental() %}

dirty as (

    {#- Upgrading a table without the columns: all, and its gone contacts. #}
    select contact_id from all_contacts
    union
    select contact_id from {{ this }}

),

{% endif %}

contacts as (

    {#-
        The contacts to compute: all of them, or on an incremental run the
        dirty ones, live or not; one no longer live gets a row without a
        stamp, a tombstone that replace_by_key turns into a delete.
    #}
    select
        {% if is_incremental() -%}
        dirty.contact_id,
        {%- else -%}
        all_contacts.contact_id,
        {%- endif %}
        all_contacts.contact_id is not null as is_live,
        all_contacts.primary_company_id,
        all_contacts.email,
        all_contacts.first_name,
        all_contacts.last_name,
        all_contacts.company_name,
        all_contacts.job_title,
        all_contacts.city,
        all_contacts.country,
        all_contacts.industry,
        all_contacts.company_size_band,
        all_contacts.lifecycle_stage,
        all_contacts.lead_status,
        all_contacts.original_source,
        all_contacts.preferred_language,
        all_contacts.customer_tier,
        all_contacts.nps_score,
        all_contacts.is_email_owner,
        all_contacts.created_at,
        all_contacts.updated_at
    {% if is_incremental() -%}
    from dirty
    left join all_contacts
        on dirty.contact_id = all_contacts.contact_id
    {%- else -%}
    from all_contacts
    {%- endif %}

),

snapshot_companies as (

    select * from {{ ref('stg_hubspot__contact_association_companies') }}
    where is_primary

),

country_regions as (

    select * from {{ ref('country_regions') }}

),

industry_groups as (

    select * from {{ ref('industry_groups') }}

),

company_size_bands as (

    select * from {{ ref('company_size_bands') }}

),

primary_companies as (

    {#- Only for the contacts computed: a few thousand on a day, not all. #}
    select
        snapshots.contact_id,
        min(
            coalesce(company_merges.company_id, snapshot_companies.company_id)
        ) as company_id
    from snapshot_companies
    inner join snapshots
        on
            snapshot_companies.association_snapshot_id
            = snapshots.association_snapshot_id
    inner join contacts
        on snapshots.contact_id = contacts.contact_id
    left join company_merges
        on snapshot_companies.company_id = company_merges.merged_company_id
    group by 1

),

contacts_with_company_ids as (

    select
        contacts.*,
        snapshots.load_id as association_load_id,
        coalesce(
            primary_companies.company_id,
            company_merges.company_id,
            contacts.primary_company_id
        ) as resolved_company_id
    from contacts
    left join snapshots
        on contacts.contact_id = snapshots.contact_id
    left join primary_companies
        on contacts.contact_id = primary_companies.contact_id
    left join company_merges
        on contacts.primary_company_id = company_merges.merged_company_id

),

contacts_with_companies as (

    select
        contacts_with_company_ids.*,
        companies.company_name as primary_company_name,
        companies.number_of_employees as company_employees,
        coalesce(
            contacts_with_company_ids.country, companies.country
        ) as country_as_entered,
        coalesce(
            companies.industry, contacts_with_company_ids.industry
        ) as industry_as_entered,
        companies.load_id as company_load_id
    from contacts_with_company_ids
    left join companies
        on contacts_with_company_ids.resolved_company_id = companies.company_id

),

final as (

    select
        contacts_with_companies.contact_id,
        contacts_with_companies.resolved_company_id as primary_company_id,
        contacts_with_companies.email,
        contacts_with_companies.first_name,
        contacts_with_companies.last_name,
        coalesce(
            contacts_with_companies.primary_company_name,
            contacts_with_companies.company_name
        ) as company_name,
        contacts_with_companies.job_title,
        contacts_with_companies.city,
        coalesce(
            country_regions.country_name,
            contacts_with_companies.country_as_entered
        ) as country,
        country_regions.country_code,
        coalesce(country_regions.region, 'unknown') as region,
        contacts_with_companies.industry_as_entered as industry,
        coalesce(industry_groups.industry_group, 'unknown') as industry_group,
        coalesce(
            company_size_bands.company_size_band,
            contacts_with_companies.company_size_band
        ) as company_size_band,
        contacts_with_companies.lifecycle_stage,
        contacts_with_companies.lead_status,
        contacts_with_companies.original_source,
        contacts_with_companies.preferred_language,
        contacts_with_companies.customer_tier,
        contacts_with_companies.company_employees,
        contacts_with_companies.nps_score,
        contacts_with_companies.is_email_owner,
        contacts_with_companies.created_at,
        contacts_with_companies.updated_at,
        contacts_with_companies.association_load_id,
        contacts_with_companies.company_load_id,
        seed_fingerprint.seeds_checksum,
        case
            when contacts_with_companies.is_live then {{ run_stamp() }}
        end as dbt_updated_at
    from contacts_with_companies
    cross join seed_fingerprint
    left join country_regions
        on
            lower(trim(contacts_with_companies.country_as_entered))
            = country_regions.country_alias
    left join industry_groups
        on
            lower(trim(contacts_with_companies.industry_as_entered))
            = industry_groups.industry
    left join company_size_bands
        on
            contacts_with_companies.company_employees
            >= company_size_bands.min_employees
            and (
                contacts_with_companies.company_employees
                < company_size_bands.max_employees
                or company_size_bands.max_employees is null
            )

)

select * from final
