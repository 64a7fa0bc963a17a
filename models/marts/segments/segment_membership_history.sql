{#
    Who entered and left each segment when: one row per membership interval
    [valid_from, valid_to) in days; valid_to is null while it lasts. Each run
    records the memberships of int_contacts_segmented (those of
    contact_segments) for the as-of date, writing
    only the intervals that change:
    - a member not in an open interval enters (new interval from the as-of
      date);
    - an open interval whose contact is no longer a member closes at the
      as-of date;
    - rerunning the same date redoes that date's decisions (intervals opened
      by the earlier run and no longer true are removed by the post-hook).
    Only contacts whose segment set changed since the last run
    (int_contacts_segmented's stamps) and contacts gone with intervals open
    are compared; nobody else can enter or leave.
    The history starts with the first run and cannot be recomputed from the
    warehouse (HubSpot keeps only current property values), so
    `--full-refresh` keeps it unless var rebuild_segment_history is true.
    The as-of date must not move backwards.
#}
{{
    config(
        materialized='incremental',
        unique_key='membership_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        full_refresh=var('rebuild_segment_history'),
        post_hook=(
            "delete from {{ this }} where valid_to = valid_from"
        ),
    )
}}

{%- if is_incremental() and execute and model.resource_type != 'unit_test' -%}
    {#- The last recorded day: an entry, or an exit (a day may record only exits). -#}
    {%- set recorded_until = run_query(
        'select max(greatest(valid_from, coalesce(valid_to, valid_from))) from '
        ~ this).columns[0].values()[0] -%}
    {%- set as_of = as_of_date_text() -%}
    {%- if recorded_until is not none and (recorded_until | string) > as_of -%}
        {{ exceptions.raise_compiler_error(
            'segment_membership_history is recorded up to ' ~ recorded_until
            ~ '; as_of_date ' ~ as_of ~ ' goes back in time. Rebuild it with '
            ~ "--full-refresh --vars '{rebuild_segment_history: true}'") }}
    {%- endif -%}
{%- endif %}

with

segmented as (

    select
        contact_id,
        segment_keys,
        dbt_updated_at
    from {{ ref('int_contacts_segmented') }}

),

{% if is_incremental() %}

dirty as (

    {#-
        Only contacts whose segment set changed since the last run can
        enter or leave a segment, and contacts gone with intervals open.
    #}
    select contact_id from segmented
    where {{ stamped_since_last_run('dbt_updated_at') }}
    union
    select recorded.contact_id
    from {{ this }} as recorded
    left join segmented
        on recorded.contact_id = segmented.contact_id
    where
        recorded.valid_to is null
        and segmented.contact_id is null

),

segmented_dirty as (

    select segmented.*
    from segmented
    inner join dirty
        on segmented.contact_id = dirty.contact_id

),

current_members as (

    {{ segment_memberships_sql('segmented_dirty') }}

),

dirty_intervals as (

    select recorded.*
    from {{ this }} as recorded
    inner join dirty
        on recorded.contact_id = dirty.contact_id

),

recorded_before as (

    {#- Intervals that were open on the day before the as-of date. #}
    select
        membership_id,
        contact_id,
        segment_key,
        valid_from,
        valid_to
    from dirty_intervals
    where
        valid_from < {{ as_of_date() }}
        and (valid_to is null or valid_to >= {{ as_of_date() }})

),

recorded_today as (

    select
        membership_id,
        contact_id,
        segment_key,
        valid_from
    from dirty_intervals
    where valid_from = {{ as_of_date() }}

),

{% else %}

current_members as (

    {{ segment_memberships_sql('segmented') }}

),

recorded_before as (

    select
        cast(null as {{ dbt.type_string() }}) as membership_id,
        cast(null as {{ dbt.type_string() }}) as contact_id,
        cast(null as {{ dbt.type_string() }}) as segment_key,
        cast(null as date) as valid_from,
        cast(null as date) as valid_to
    where 1 = 0

),

recorded_today as (

    select
        membership_id,
        contact_id,
        segment_key,
        valid_from
    from recorded_before

),

{% endif %}

left_or_reopened as (

    {#-
        Only intervals that change are emitted: those whose contact left
        (closed at the as-of date) and those an earlier run of the same date
        closed although the contact is a member again (reopened). Intervals
        that simply continue are not touched.
    #}
    select
        recorded_before.membership_id,
        recorded_before.contact_id,
        recorded_before.segment_key,
        recorded_before.valid_from,
        case
            when current_members.contact_id is null then {{ as_of_date() }}
        end as valid_to
    from recorded_before
    left join current_members
        on
            recorded_before.contact_id = current_members.contact_id
            and recorded_before.segment_key = current_members.segment_key
    where
        current_members.contact_id is null
        or recorded_before.valid_to is not null

),

entered as (

    select
        {{ dbt.concat([
            'current_members.contact_id', "':'",
            'current_members.segment_key', "':'",
            "cast(" ~ as_of_date() ~ " as " ~ dbt.type_string() ~ ")",
        ]) }} as membership_id,
        current_members.contact_id,
        current_members.segment_key,
        {{ as_of_date() }} as valid_from,
        cast(null as date) as valid_to
    from current_members
    left join recorded_before
        on
            current_members.contact_id = recorded_before.contact_id
            and current_members.segment_key = recorded_before.segment_key
    where recorded_before.contact_id is null

),

retracted as (

    {#- Opened earlier today, no longer true: emitted empty, then deleted. #}
    select
        recorded_today.membership_id,
        recorded_today.contact_id,
        recorded_today.segment_key,
        recorded_today.valid_from,
        recorded_today.valid_from as valid_to
    from recorded_today
    left join current_members
        on
            recorded_today.contact_id = current_members.contact_id
            and recorded_today.segment_key = current_members.segment_key
    where current_members.contact_id is null

),

intervals as (

    select * from left_or_reopened
    union all
    select * from entered
    union all
    select * from retracted

),

final as (

    select
        membership_id,
        contact_id,
        segment_key,
        valid_to is null as is_current,
        valid_from,
        valid_to,
        {{ run_stamp() }} as dbt_updated_at
    from intervals

)

select * from final
