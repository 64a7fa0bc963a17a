{#
    Who is in which segment today: one row per (contact, segment) whose
    rule is true for the contact's row in dim_contacts, as
    int_contacts_segmented evaluated the rules (the `meta.segments` entries
    of the `segments` model); `is_primary_segment` marks each contact's
    highest-priority segment (lowest priority number, then key). Since when a contact is
    in a segment: the open interval in segment_membership_history.
    Incremental: a run rewrites the rows of the contacts whose segment set
    changed since it last ran (int_contacts_segmented's stamps), of contacts
    gone from it, and of contacts holding a segment whose declaration
    changed or went; the post-hook moves every row to the new as-of date.
#}
{{
    config(
        materialized='incremental',
        unique_key='contact_id',
        incremental_strategy='replace_by_key',
        on_schema_change='append_new_columns',
        post_hook="{{ move_rows_to_as_of_date() }}",
    )
}}

with

segmented as (

    select
        contact_id,
        segment_keys,
        primary_segment_key,
        dbt_updated_at
    from {{ ref('int_contacts_segmented') }}

),

definitions as (

    {{ segment_definitions_sql() }}

),

{% if is_incremental() %}

recorded as (

    select
        contact_id,
        segment_key,
        segment_category,
        segment_priority
    from {{ this }}

),

stale as (

    select distinct recorded.contact_id
    from recorded
    left join segmented
        on recorded.contact_id = segmented.contact_id
    left join definitions
        on recorded.segment_key = definitions.segment_key
    where
        segmented.contact_id is null
        or definitions.segment_key is null
        or recorded.segment_category
        is distinct from definitions.segment_category
        or recorded.segment_priority != definitions.segment_priority

),

dirty as (

    select contact_id from segmented
    where {{ stamped_since_last_run('dbt_updated_at') }}
    union
    select contact_id from stale

),

segmented_dirty as (

    select segmented.*
    from segmented
    inner join dirty
        on segmented.contact_id = dirty.contact_id

),

{% else %}

dirty as (

    select contact_id from segmented
    where 1 = 0

),

segmented_dirty as (

    select * from segmented

),

{% endif %}

tombstones as (

    {#- Every dirty contact's old rows go, even when it has no new ones. #}
    select
        contact_id,
        cast(null as {{ dbt.type_string() }}) as segment_key,
        cast(null as {{ dbt.type_string() }}) as segment_category,
        cast(null as integer) as segment_priority,
        cast(null as boolean) as is_primary_segment,
        cast(null as timestamp) as dbt_updated_at
    from dirty

),

members as (

    {{ segment_memberships_sql('segmented_dirty') }}

),

members_defined as (

    select
        members.contact_id,
        members.segment_key,
        definitions.segment_category,
        definitions.segment_priority,
        coalesce(
            members.segment_key = segmented.primary_segment_key, false
        ) as is_primary_segment,
        {{ run_stamp() }} as dbt_updated_at
    from members
    inner join definitions
        on members.segment_key = definitions.segment_key
    inner join segmented_dirty as segmented
        on members.contact_id = segmented.contact_id

),

rows_and_tombstones as (

    select * from members_defined
    union all
    select * from tombstones

),

final as (

    select
        {{ dbt.concat(['contact_id', "':'", 'segment_key']) }}
            as contact_segment_id,
        contact_id,
        segment_key,
        segment_category,
        segment_priority,
        is_primary_segment,
        {{ as_of_date() }} as as_of_date,
        dbt_updated_at
    from rows_and_tombstones

)

select * from final
