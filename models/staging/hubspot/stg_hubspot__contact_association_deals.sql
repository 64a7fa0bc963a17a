{# The deals in each contact's association snapshot, one row per deal. #}

with

source as (

    select * from {{ source('hubspot', 'contact_associations__deals') }}

),

renamed as (

    select
        cast(_dlt_id as {{ dbt.type_string() }}) as association_id,
        cast(_dlt_parent_id as {{ dbt.type_string() }})
            as association_snapshot_id,
        cast(deal_id as {{ dbt.type_string() }}) as deal_id
    from source

)

select * from renamed
