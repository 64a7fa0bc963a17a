{#
    One row per deal stage (dlt child table of deal_pipelines; its pipeline is
    the parent row). HubSpot sends the stage metadata as strings:
    isClosed 'true'/'false', probability '0.0'…'1.0'.
#}

with

source as (

    select * from {{ source('hubspot', 'deal_pipelines__stages') }}

),

renamed as (

    select
        cast(_dlt_parent_id as {{ dbt.type_string() }}) as pipeline_row_id,
        cast(id as {{ dbt.type_string() }}) as deal_stage_id,
        {{ clean_text('label') }} as deal_stage_label,
        cast(display_order as integer) as display_order,
        {{ text_to_numeric('metadata__probability', 5, 4) }}
            as stage_probability,
        coalesce({{ text_to_boolean('metadata__is_closed') }}, false)
            as is_closed,
        coalesce(archived, false) as is_archived
    from source

)

select * from renamed
