{#
    Every declared segment (the `meta.segments` list of this model in
    _segments__models.yml) with its definition and current size, including
    segments nobody is in. The reverse-ETL step reads labels, descriptions
    and priorities from here.
#}

with

definitions as (

    {{ segment_definitions_sql() }}

),

members as (

    select
        segment_key,
        count(*) as member_count
    from {{ ref('contact_segments') }}
    group by 1

),

contacts as (

    select count(*) as contact_count from {{ ref('dim_contacts') }}

),

final as (

    select
        definitions.segment_key,
        definitions.segment_label,
        definitions.segment_description,
        definitions.segment_category,
        definitions.segment_rule,
        definitions.segment_priority,
        coalesce(members.member_count, 0) as member_count,
        {{ safe_divide('coalesce(members.member_count, 0)',
                       'contacts.contact_count') }} as share_of_contacts,
        {{ as_of_date() }} as as_of_date
    from definitions
    cross join contacts
    left join members
        on definitions.segment_key = members.segment_key

)

select * from final
