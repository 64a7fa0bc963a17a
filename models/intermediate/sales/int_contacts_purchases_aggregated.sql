{#
    Purchase behaviour per contact as of the as-of date: won deals closed by
    the end of that day, of contacts created by then. A deal with several contacts counts fully for each of
    them (B2B buying groups); a won deal with no amount counts as a purchase
    with zero revenue.
#}

with

deals as (

    select
        deal_id,
        amount,
        closed_at
    from {{ ref('int_deals_joined_to_stages') }}
    where
        is_won
        and closed_at < {{ as_of_end() }}

),

deal_contacts as (

    {#- Contacts created after the as-of date are not customers yet (nor in
        dim_contacts): left in, they would shift everyone's RFM buckets. #}
    select
        deal_contacts.deal_id,
        deal_contacts.contact_id
    from {{ ref('int_deal_contacts_resolved') }} as deal_contacts
    inner join {{ ref('int_contacts_resolved') }} as contacts
        on deal_contacts.contact_id = contacts.contact_id
    where contacts.created_at < {{ as_of_end() }}

),

final as (

    select
        deal_contacts.contact_id,
        count(*) as won_deal_count,
        cast(sum(coalesce(deals.amount, 0)) as numeric(18, 2)) as revenue,
        min(deals.closed_at) as first_purchase_at,
        max(deals.closed_at) as last_purchase_at
    from deal_contacts
    inner join deals
        on deal_contacts.deal_id = deals.deal_id
    group by 1

)

select * from final
