{#
    Who is in which segment today: one row per (contact, segment) whose rule
    is true for the contact's row in dim_contacts. The rules are the
    `meta.segments` entries of the `segments` model; `is_primary_segment`
    marks each contact's highest-priority segment (lowest priority number,
    then key). Since when a contact is in a segment: the open interval in
    segment_membership_history.
#}

with

contacts as (

    select * from {{ ref('dim_contacts') }}

),

definitions as (

    {{ segment_definitions_sql() }}

),

members as (

    {{ segment_members_sql('contacts') }}

),

members_defined as (

    select
        members.contact_id,
        members.segment_key,
        definitions.segment_category,
        definitions.segment_priority
    from members
    inner join definitions
        on members.segment_key = definitions.segment_key

),

top_priorities as (

    select
        contact_id,
        min(segment_priority) as top_priority
    from members_defined
    group by 1

),

primary_segments as (

    {#-
        Two grouped minimums (priority, then key) instead of a window over
        every membership: the same pick, without sorting millions of rows.
    #}
    select
        members_defined.contact_id,
        min(members_defined.segment_key) as segment_key
    from members_defined
    inner join top_priorities
        on
            members_defined.contact_id = top_priorities.contact_id
            and members_defined.segment_priority = top_priorities.top_priority
    group by 1

),

final as (

    select
        {{ dbt.concat(['members_defined.contact_id', "':'",
                       'members_defined.segment_key']) }}
            as contact_segment_id,
        members_defined.contact_id,
        members_defined.segment_key,
        members_defined.segment_category,
        members_defined.segment_priority,
        primary_segments.segment_key is not null as is_primary_segment,
        {{ as_of_date() }} as as_of_date
    from members_defined
    left join primary_segments
        on
            members_defined.contact_id = primary_segments.contact_id
            and members_defined.segment_key = primary_segments.segment_key

)

select * from final
