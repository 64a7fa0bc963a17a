{# One row per deal pipeline. #}

with

source as (

    select * from {{ source('hubspot', 'deal_pipelines') }}

),

renamed as (

    select
        cast(_dlt_id as {{ dbt.type_string() }}) as pipeline_row_id,
        cast(id as {{ dbt.type_string() }}) as pipeline_id,
        {{ clean_text('label') }} as pipeline_label,
        cast(display_order as integer) as display_order,
        coalesce(archived, false) as is_archived
    from source

)

select * from renamed
