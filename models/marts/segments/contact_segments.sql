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

members_ranked as (

    select
        members.contact_id,
        members.segment_key,
        definitions.segment_category,
        definitions.segment_priority,
        row_number() over (
            partition by members.contact_id
            order by
                definitions.segment_priority asc, members.segment_key asc
        ) as priority_rank
    from members
    inner join definitions
        on members.segment_key = definitions.segment_key

),

final as (

    select
        {{ dbt.concat(['contact_id', "':'", 'segment_key']) }}
            as contact_segment_id,
        contact_id,
        segment_key,
        segment_category,
        segment_priority,
        priority_rank = 1 as is_primary_segment,
        {{ as_of_date() }} as as_of_date
    from members_ranked

)

select * from final
