{#
    dlt's load log. A load is complete once its row has status 0; rows of a
    load that has not completed (a package still being retried) are not
    processed by incremental models yet.
#}

with

source as (

    select * from {{ source('hubspot', '_dlt_loads') }}

),

renamed as (

    select
        cast(load_id as {{ dbt.type_string() }}) as load_id,
        cast(status as integer) as load_status,
        status = 0 as is_completed,
        {{ to_utc_timestamp('inserted_at') }} as loaded_at
    from source

)

select * from renamed
