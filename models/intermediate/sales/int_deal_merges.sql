{#
    Which deal each merged-away deal id now lives in, from the survivors'
    `hs_merged_object_ids` (rules: macros/merges.sql). HubSpot lists a
    merged-away deal no more, so an incremental extract never updates the row
    it loaded before the merge: without this, that deal would count twice.
#}

with

deals as (

    select
        deal_id,
        merged_deal_ids,
        is_archived,
        updated_at
    from {{ ref('stg_hubspot__deals') }}

),

survivors as (

    {{ merge_survivors_sql('deals', 'deal_id', 'merged_deal_ids') }}

),

final as (

    select
        merged_id as merged_deal_id,
        survivor_id as deal_id
    from survivors

)

select * from final
