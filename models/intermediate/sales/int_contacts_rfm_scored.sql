{#
    RFM scores for customers (contacts with a purchase as of the as-of date).
    Each score is an NTILE(5) bucket, 5 best: recency over days since the last
    purchase (fewer is better), frequency over won deals, monetary over
    revenue. Ties are split by contact id so reruns give the same buckets.
    The segment comes from seed rfm_segment_map on the recency score and the
    frequency-monetary score, the mean of F and M rounded half up.
    `revenue_decile` (1 = the top 10% of revenue) feeds the high-value segment.
#}

with

purchases as (

    select
        contact_id,
        won_deal_count,
        revenue,
        last_purchase_at,
        cast(
            {{ dbt.datediff(
                'cast(last_purchase_at as date)', as_of_date(), 'day') }}
            as integer
        ) as days_since_last_purchase
    from {{ ref('int_contacts_purchases_aggregated') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

scored as (

    select
        contact_id,
        won_deal_count,
        revenue,
        days_since_last_purchase,
        cast(ntile(5) over (
            order by days_since_last_purchase desc, contact_id asc
        ) as integer) as recency_score,
        cast(ntile(5) over (
            order by won_deal_count asc, contact_id asc
        ) as integer) as frequency_score,
        cast(ntile(5) over (
            order by revenue asc, contact_id asc
        ) as integer) as monetary_score,
        cast(ntile(10) over (
            order by revenue desc, contact_id asc
        ) as integer) as revenue_decile
    from purchases

),

scored_with_frequency_monetary as (

    select
        *,
        cast(
            floor((frequency_score + monetary_score + 1) / 2.0) as integer
        ) as frequency_monetary_score
    from scored

),

final as (

    select
        scored_with_frequency_monetary.contact_id,
        segment_map.rfm_segment,
        scored_with_frequency_monetary.won_deal_count,
        scored_with_frequency_monetary.revenue,
        scored_with_frequency_monetary.days_since_last_purchase,
        scored_with_frequency_monetary.recency_score,
        scored_with_frequency_monetary.frequency_score,
        scored_with_frequency_monetary.monetary_score,
        scored_with_frequency_monetary.frequency_monetary_score,
        scored_with_frequency_monetary.revenue_decile
    from scored_with_frequency_monetary
    left join segment_map
        on
            scored_with_frequency_monetary.recency_score
            = segment_map.recency_score
            and scored_with_frequency_monetary.frequency_monetary_score
            = segment_map.frequency_monetary_score

)

select * from final
