{#
    The property definitions of contacts, companies and deals: what each
    `property_<name>` column of the raw tables means.
#}

with

source as (

    select * from {{ source('hubspot', 'properties') }}

),

renamed as (

    select
        {{ dbt.concat(['object_type', "':'", 'name']) }} as property_id,
        cast(_dlt_id as {{ dbt.type_string() }}) as property_row_id,
        cast(object_type as {{ dbt.type_string() }}) as object_type,
        cast(name as {{ dbt.type_string() }}) as property_name,
        {{ clean_text('label') }} as property_label,
        {{ clean_text('type') }} as property_type,
        {{ clean_text('field_type') }} as field_type,
        {{ clean_text('group_name') }} as group_name,
        {{ clean_text('description') }} as description,
        coalesce(hubspot_defined, false) as is_hubspot_defined,
        coalesce(calculated, false) as is_calculated,
        coalesce(archived, false) as is_archived
    from source

)

select * from renamed
