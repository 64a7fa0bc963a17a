{#
    One row per deal record, archived ones included (flagged), and so are
    deals merged into another (int_deal_merges finds them). Whether a deal
    is won comes from its stage's metadata (stg_hubspot__deal_pipeline_stages),
    not from the calculated `hs_is_closed_won`, which portals may not expose.
#}
{%- set columns = relation_column_names(source('hubspot', 'deals')) -%}

with

source as (

    select * from {{ source('hubspot', 'deals') }}

),

renamed as (

    select
        ----------  ids
        cast(id as {{ dbt.type_string() }}) as deal_id,
        {{ hubspot_property(columns, 'pipeline') }} as pipeline_id,
        {{ hubspot_property(columns, 'dealstage') }} as deal_stage_id,
        {{ hubspot_property(columns, 'hs_merged_object_ids') }}
            as merged_deal_ids,

        ----------  strings
        {{ hubspot_property(columns, 'dealname') }} as deal_name,
        {{ hubspot_property(columns, 'dealtype') }} as deal_type,

        ----------  numerics
        {{ text_to_numeric(property_column(columns, 'amount')) }}
            as amount,

        ----------  booleans
        coalesce(archived, false) as is_archived,

        ----------  timestamps
        {{ text_to_timestamp(property_column(columns, 'closedate')) }}
            as closed_at,
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        {{ to_utc_timestamp('archived_at') }} as archived_at

    from source

)

select * from renamed
