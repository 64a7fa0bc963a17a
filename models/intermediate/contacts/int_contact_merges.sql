{#
    Which contact each merged-away contact id now lives in, from the
    survivors' `hs_merged_object_ids` (rules: macros/merges.sql).
#}

with

contacts as (

    select
        contact_id,
        merged_contact_ids,
        is_archived,
        updated_at
    from {{ ref('stg_hubspot__contacts') }}

),

survivors as (

    {{ merge_survivors_sql('contacts', 'contact_id', 'merged_contact_ids') }}

),

final as (

    select
        merged_id as merged_contact_id,
        survivor_id as contact_id
    from survivors

)

select * from final
