{#
    What the reverse-ETL sync writes back to HubSpot: one row per live HubSpot
    contact id, with its segment keys sorted and `;`-joined (HubSpot's
    multi-checkbox format) and its primary segment. Contacts in no segment
    are included with empty values so the sync can clear stale ones.
#}

with

contacts as (

    select contact_id from {{ ref('dim_contacts') }}

),

contact_segments as (

    select
        contact_id,
        segment_key,
        is_primary_segment
    from {{ ref('contact_segments') }}

),

segments_aggregated as (

    select
        contact_id,
        {{ sorted_listagg('segment_key', "';'") }}
            as segment_keys,
        max(case when is_primary_segment then segment_key end)
            as primary_segment_key,
        count(*) as segment_count
    from contact_segments
    group by 1

),

final as (

    select
        contacts.contact_id,
        coalesce(segments_aggregated.segment_keys, '') as segment_keys,
        segments_aggregated.primary_segment_key,
        coalesce(segments_aggregated.segment_count, 0) as segment_count,
        {{ as_of_date() }} as as_of_date
    from contacts
    left join segments_aggregated
        on contacts.contact_id = segments_aggregated.contact_id

)

select * from final
