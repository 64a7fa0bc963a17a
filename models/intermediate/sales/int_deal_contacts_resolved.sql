{#
    Which live contacts each live deal belongs to, once per pair. Associations
    to a contact or a deal that was merged away point at the survivor. The
    extract re-reads the associations of a changed deal's contacts (a merge
    changes the survivor), so this guards against a load that did not: one
    without the associations resource, or another loader.
#}

with

snapshots as (

    select * from {{ ref('stg_hubspot__contact_associations') }}

),

snapshot_deals as (

    select * from {{ ref('stg_hubspot__contact_association_deals') }}

),

associations as (

    select
        snapshot_deals.deal_id,
        snapshots.contact_id
    from snapshot_deals
    inner join snapshots
        on
            snapshot_deals.association_snapshot_id
            = snapshots.association_snapshot_id

),

contact_merges as (

    select * from {{ ref('int_contact_merges') }}

),

deal_merges as (

    select * from {{ ref('int_deal_merges') }}

),

contacts as (

    select contact_id from {{ ref('int_contacts_resolved') }}

),

deals as (

    select deal_id from {{ ref('int_deals_joined_to_stages') }}

),

associations_resolved as (

    select distinct
        coalesce(deal_merges.deal_id, associations.deal_id) as deal_id,
        coalesce(contact_merges.contact_id, associations.contact_id)
            as contact_id
    from associations
    left join contact_merges
        on associations.contact_id = contact_merges.merged_contact_id
    left join deal_merges
        on associations.deal_id = deal_merges.merged_deal_id

),

final as (

    select
        {{ dbt.concat(['associations_resolved.deal_id', "':'",
                       'associations_resolved.contact_id']) }}
            as deal_contact_id,
        associations_resolved.deal_id,
        associations_resolved.contact_id
    from associations_resolved
    inner join contacts
        on associations_resolved.contact_id = contacts.contact_id
    inner join deals
        on associations_resolved.deal_id = deals.deal_id

)

select * from final
