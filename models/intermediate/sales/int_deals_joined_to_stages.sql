{#
    Live deals (neither archived nor merged into another deal) with their
    pipeline and stage. A deal is won when its stage is
    closed with probability 1 (HubSpot's closed-won convention, which also
    holds for custom pipelines), lost when closed with a lower probability.
#}

with

deals as (

    select * from {{ ref('stg_hubspot__deals') }}
    where not is_archived

),

deal_merges as (

    select * from {{ ref('int_deal_merges') }}

),

pipelines as (

    select * from {{ ref('stg_hubspot__deal_pipelines') }}

),

pipeline_stages as (

    select * from {{ ref('stg_hubspot__deal_pipeline_stages') }}

),

stages as (

    select
        pipelines.pipeline_id,
        pipelines.pipeline_label,
        pipeline_stages.deal_stage_id,
        pipeline_stages.deal_stage_label,
        pipeline_stages.stage_probability,
        pipeline_stages.is_closed
    from pipeline_stages
    inner join pipelines
        on pipeline_stages.pipeline_row_id = pipelines.pipeline_row_id

),

final as (

    select
        deals.deal_id,
        deals.pipeline_id,
        deals.deal_stage_id,
        deals.deal_name,
        deals.deal_type,
        stages.pipeline_label,
        stages.deal_stage_label,
        deals.amount,
        stages.stage_probability,
        coalesce(stages.is_closed, false) as is_closed,
        coalesce(stages.is_closed and stages.stage_probability >= 1, false)
            as is_won,
        deals.closed_at,
        deals.created_at,
        deals.updated_at
    from deals
    left join stages
        on
            deals.pipeline_id = stages.pipeline_id
            and deals.deal_stage_id = stages.deal_stage_id
    left join deal_merges
        on deals.deal_id = deal_merges.merged_deal_id
    where deal_merges.merged_deal_id is null

)

select * from final
