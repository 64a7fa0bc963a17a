{#
    Which company each merged-away company id now lives in, from the survivors'
    `hs_merged_object_ids` (rules: macros/merges.sql). HubSpot lists a
    merged-away company no more, so an incremental extract never updates the
    row it loaded before the merge. A contact still naming it (through
    `associatedcompanyid`, or an association a load did not refresh) is
    given the survivor.
#}

with

companies as (

    select
        company_id,
        merged_company_ids,
        is_archived,
        updated_at
    from {{ ref('stg_hubspot__companies') }}

),

survivors as (

    {{ merge_survivors_sql('companies', 'company_id', 'merged_company_ids') }}

),

final as (

    select
        merged_id as merged_company_id,
        survivor_id as company_id
    from survivors

)

select * from final
