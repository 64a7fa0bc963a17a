{#
    Which contact each merged-away contact id now lives in. HubSpot keeps the
    ids merged into a contact in its `hs_merged_object_ids` (`;`-joined); a
    chain of merges lists every earlier id on the final survivor. Should an id
    appear on two records, the live, most recently updated one wins, then the
    lowest id.
#}

with

contacts as (

    select
        contact_id,
        merged_contact_ids,
        is_archived,
        updated_at
    from {{ ref('stg_hubspot__contacts') }}
    where merged_contact_ids is not null

),

merged_ids_split as (

    select
        contact_id,
        is_archived,
        updated_at,
        {{ unnest_split('merged_contact_ids') }} as merged_contact_id
    from contacts

),

merged_ids_ranked as (

    select
        trim(merged_contact_id) as merged_contact_id,
        contact_id,
        row_number() over (
            partition by trim(merged_contact_id)
            order by
                is_archived asc,
                updated_at desc,
                length(contact_id) asc,
                contact_id asc
        ) as survivor_rank
    from merged_ids_split
    where
        trim(merged_contact_id) <> ''
        and trim(merged_contact_id) <> contact_id

),

final as (

    select
        merged_contact_id,
        contact_id
    from merged_ids_ranked
    where survivor_rank = 1

)

select * from final
