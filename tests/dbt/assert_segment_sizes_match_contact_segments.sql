{#
    `segments.member_count` equals the rows of contact_segments, and the sync
    model lists the same memberships, for every declared segment.
#}

with

segments as (

    select
        segment_key,
        member_count
    from {{ ref('segments') }}

),

contact_segments as (

    select
        segment_key,
        count(*) as member_count
    from {{ ref('contact_segments') }}
    group by 1

),

sync_memberships as (

    select sum(segment_count) as memberships
    from {{ ref('sync_hubspot__contact_segments') }}

),

sizes_compared as (

    select
        segments.segment_key,
        segments.member_count as declared_size,
        coalesce(contact_segments.member_count, 0) as counted_size
    from segments
    full outer join contact_segments
        on segments.segment_key = contact_segments.segment_key

),

mismatches as (

    select
        segment_key,
        declared_size,
        counted_size
    from sizes_compared
    where
        declared_size is null
        or declared_size <> counted_size
    union all
    select
        'sync_hubspot__contact_segments' as segment_key,
        (select sum(member_count) from segments) as declared_size,
        memberships as counted_size
    from sync_memberships
    where memberships <> (select sum(member_count) from segments)

)

select * from mismatches
