{#
    What each live contact is interested in, one row per (contact, topic):
    the values ticked in the multi-checkbox property `interests`, and the
    topics of links the contact clicked by the as-of date (seed link_topics:
    SQL LIKE patterns on the URL). `interest_source` says which; a topic found
    both ways appears once, as 'both'.
#}

with

contacts as (

    select
        contact_id,
        interests
    from {{ ref('int_contacts_resolved') }}
    where interests is not null

),

clicks as (

    select
        contact_id,
        url
    from {{ ref('int_email_engagement_events') }}
    where
        event_type = 'CLICK'
        and contact_id is not null
        and url is not null
        and event_at < {{ as_of_end() }}

),

link_topics as (

    select * from {{ ref('link_topics') }}

),

declared_interests_split as (

    select
        contact_id,
        {{ unnest_split('interests') }} as topic
    from contacts

),

declared_interests as (

    select distinct
        contact_id,
        lower(trim(topic)) as topic
    from declared_interests_split
    where trim(topic) <> ''

),

clicked_topics as (

    select distinct
        clicks.contact_id,
        link_topics.topic
    from clicks
    inner join link_topics
        on lower(clicks.url) like link_topics.url_pattern

),

topics_unioned as (

    select
        contact_id,
        topic,
        'declared' as interest_source
    from declared_interests
    union all
    select
        contact_id,
        topic,
        'clicked' as interest_source
    from clicked_topics

),

final as (

    select
        {{ dbt.concat(['contact_id', "':'", 'topic']) }} as contact_interest_id,
        contact_id,
        topic,
        case
            when count(*) > 1 then 'both' else min(interest_source)
        end as interest_source
    from topics_unioned
    group by 2, 3

)

select * from final
