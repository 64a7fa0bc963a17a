{#
    One row per company record, archived ones included (flagged), and so are
    companies merged into another (int_company_merges finds them).
#}
{%- set columns = relation_column_names(source('hubspot', 'companies')) -%}

with

source as (

    select * from {{ source('hubspot', 'companies') }}

),

renamed as (

    select
        ----------  ids
        cast(id as {{ dbt.type_string() }}) as company_id,
        cast(_dlt_load_id as {{ dbt.type_string() }}) as load_id,
        {{ hubspot_property(columns, 'hs_merged_object_ids') }}
            as merged_company_ids,

        ----------  strings
        {{ hubspot_property(columns, 'name') }} as company_name,
        lower({{ hubspot_property(columns, 'domain') }}) as company_domain,
        {{ hubspot_property(columns, 'industry') }} as industry,
        {{ hubspot_property(columns, 'country') }} as country,
        {{ hubspot_property(columns, 'city') }} as city,

        ----------  numerics
        cast(
            {{ text_to_numeric(
                property_column(columns, 'numberofemployees'), 18, 0) }}
            as bigint
        ) as number_of_employees,
        {{ text_to_numeric(property_column(columns, 'annualrevenue')) }}
            as annual_revenue,

        ----------  booleans
        coalesce(archived, false) as is_archived,

        ----------  timestamps
        {{ to_utc_timestamp('created_at') }} as created_at,
        {{ to_utc_timestamp('updated_at') }} as updated_at,
        {{ to_utc_timestamp('archived_at') }} as archived_at

    from source

)

select * from renamed
