{# The options of enumeration properties (dlt child table of properties). #}

with

source as (

    select * from {{ source('hubspot', 'properties__options') }}

),

renamed as (

    select
        cast(_dlt_id as {{ dbt.type_string() }}) as property_option_id,
        cast(_dlt_parent_id as {{ dbt.type_string() }}) as property_row_id,
        cast(value as {{ dbt.type_string() }}) as option_value,
        {{ clean_text('label') }} as option_label,
        cast(display_order as integer) as display_order,
        coalesce(hidden, false) as is_hidden
    from source

)

select * from renamed
