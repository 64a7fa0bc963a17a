{#
    Live contacts with their firmographics and geography: the primary
    company (the primary association, else the `associatedcompanyid`
    property) with its name, industry and size, the country normalised
    through seed country_regions (names, codes and common spellings) with its
    region, and the industry grouped through seed industry_groups. The
    company's structured values win over what the contact typed; the
    contact's own values fill the gaps.
#}

with

contacts as (

    select * from {{ ref('int_contacts_resolved') }}

),

snapshots as (

    select * from {{ ref('stg_hubspot__contact_associations') }}

),

snapshot_companies as (

    select * from {{ ref('stg_hubspot__contact_association_companies') }}
    where is_primary

),

companies as (

    select * from {{ ref('stg_hubspot__companies') }}
    where not is_archived

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

    select
        snapshots.contact_id,
        min(snapshot_companies.company_id) as company_id
    from snapshot_companies
    inner join snapshots
        on
            snapshot_companies.association_snapshot_id
            = snapshots.association_snapshot_id
    group by 1

),

contacts_with_companies as (

    select
        contacts.*,
        coalesce(primary_companies.company_id, contacts.primary_company_id)
            as resolved_company_id,
        companies.company_name as primary_company_name,
        companies.number_of_employees as company_employees,
        coalesce(contacts.country, companies.country) as country_as_entered,
        coalesce(companies.industry, contacts.industry) as industry_as_entered
    from contacts
    left join primary_companies
        on contacts.contact_id = primary_companies.contact_id
    left join companies
        on
            coalesce(primary_companies.company_id, contacts.primary_company_id)
            = companies.company_id

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
        contacts_with_companies.updated_at
    from contacts_with_companies
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
