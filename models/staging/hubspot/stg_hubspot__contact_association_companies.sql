{#
    The companies in each contact's association snapshot, one row per company;
    `is_primary` marks HubSpot's primary company (association type 1).
#}

with

source as (

    select * from {{ source('hubspot', 'contact_associations__companies') }}

),

renamed as (

    select
        cast(_dlt_id as {{ dbt.type_string() }}) as association_id,
        cast(_dlt_parent_id as {{ dbt.type_string() }})
            as association_snapshot_id,
        cast(company_id as {{ dbt.type_string() }}) as company_id,
        coalesce(is_primary, false) as is_primary
    from source

)

select * from renamed
