{#
    What the reverse-ETL sync writes back to HubSpot: one row per live HubSpot
    contact id, with its segment keys sorted and `;`-joined (HubSpot's
    multi-checkbox format) and its primary segment. Contacts in no segment
    are included with empty values so the sync can clear stale ones.
    Incremental: a run rewrites the contacts whose segment set changed since
    it last ran (int_contacts_segmented's stamps) and deletes those gone;
    the post-hook moves every row to the new as-of date.
#}
{{
    config(
        materialized='incremental',
        unique_key='contact_id',
        incremental_strategy='replace_by_key',
        on_schema_change='append_new_columns',
        post_hook="{{ move_rows_to_as_of_date() }}",
    )
}}

with

segmented as (

    select * from {{ ref('int_contacts_segmented') }}

),

changed as (

    select * from segmented
    {% if is_incremental() %}
    where {{ stamped_since_last_run('dbt_updated_at') }}
    {% endif %}

),

{% if is_incremental() %}

gone as (

    select recorded.contact_id
    from {{ this }} as recorded
    left join segmented
        on recorded.contact_id = segmented.contact_id
    where segmented.contact_id is null

),

{% endif %}

final as (

    select
        contact_id,
        segment_keys,
        primary_segment_key,
        segment_count,
        {{ as_of_date() }} as as_of_date,
        {{ run_stamp() }} as dbt_updated_at
    from changed
    {% if is_incremental() %}
    union all
    {#- Tombstones: replace_by_key deletes these contacts' rows. #}
    select
        contact_id,
        cast(null as {{ dbt.type_string() }}) as segment_keys,
        cast(null as {{ dbt.type_string() }}) as primary_segment_key,
        cast(null as {{ dbt.type_bigint() }}) as segment_count,
        {{ as_of_date() }} as as_of_date,
        cast(null as timestamp) as dbt_updated_at
    from gone
    {% endif %}

)

select * from final
