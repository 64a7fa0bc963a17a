{#
    One association snapshot per contact: the parent row of dlt's child tables
    contact_associations__deals and __companies (joined on the snapshot id).
#}

with

source as (

    select * from {{ source('hubspot', 'contact_associations') }}

),

renamed as (

    select
        cast(_dlt_id as {{ dbt.type_string() }}) as association_snapshot_id,
        cast(contact_id as {{ dbt.type_string() }}) as contact_id,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as load_id
    from source

)

select * from renamed
