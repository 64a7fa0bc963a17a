{#
    One row per live deal with its pipeline, stage, outcome and the number of
    live contacts it is associated with (merged contacts resolved).
#}

with

deals as (

    select * from {{ ref('int_deals_joined_to_stages') }}

),

deal_contacts as (

    select
        deal_id,
        count(*) as contact_count
    from {{ ref('int_deal_contacts_resolved') }}
    group by 1

),

final as (

    select
        deals.deal_id,
        deals.pipeline_id,
        deals.deal_stage_id,
        deals.deal_name,
        deals.deal_type,
        deals.pipeline_label,
        deals.deal_stage_label,
        case
            when deals.is_won then 'won'
            when deals.is_closed then 'lost'
            else 'open'
        end as deal_status,
        deals.amount,
        deals.stage_probability,
        coalesce(deal_contacts.contact_count, 0) as contact_count,
        deals.is_closed,
        deals.is_won,
        deals.closed_at,
        deals.created_at,
        deals.updated_at
    from deals
    left join deal_contacts
        on deals.deal_id = deal_contacts.deal_id

)

select * from final
