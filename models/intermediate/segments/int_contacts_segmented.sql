{#
    Each live contact's segments as of the as-of date, in one row: keys
    sorted and `;`-joined ('' when none), primary segment (lowest priority,
    then key) and count. Every rule is evaluated for every contact on every
    run (one pass over dim_contacts, no row per membership), so a rule that
    depends on the date or a changed declaration is always current.
    Incremental: a run writes only the contacts whose set changed, new
    contacts included, stamped `dbt_updated_at`, and deletes the contacts no
    longer in dim_contacts. contact_segments, the membership history and
    the sync model rebuild just those contacts (`stamped_since_last_run`).
#}
{{
    config(
        materialized='incremental',
        unique_key='contact_id',
        incremental_strategy='replace_by_key',
        on_schema_change='append_new_columns',
    )
}}

with

contacts as (

    select * from {{ ref('dim_contacts') }}

),

flags as (

    {{ segment_flags_sql('contacts') }}

),

sets as (

    {{ segment_set_sql('flags') }}

),

{% if is_incremental() %}

recorded as (

    select
        contact_id,
        segment_keys,
        primary_segment_key
    from {{ this }}

),

changed as (

    select sets.*
    from sets
    left join recorded
        on sets.contact_id = recorded.contact_id
    where
        recorded.contact_id is null
        or sets.segment_keys != recorded.segment_keys
        or sets.primary_segment_key is distinct from recorded.primary_segment_key

),

gone as (

    {#- Tombstones: replace_by_key deletes these contacts' rows. #}
    select
        recorded.contact_id,
        cast(null as {{ dbt.type_string() }}) as segment_keys,
        cast(null as {{ dbt.type_string() }}) as primary_segment_key,
        cast(null as integer) as segment_count
    from recorded
    left join sets
        on recorded.contact_id = sets.contact_id
    where sets.contact_id is null

),

{% else %}

changed as (

    select * from sets

),

{% endif %}

final as (

    select
        contact_id,
        segment_keys,
        primary_segment_key,
        cast(segment_count as {{ dbt.type_bigint() }}) as segment_count,
        {{ run_stamp() }} as dbt_updated_at
    from changed
    {% if is_incremental() %}
    union all
    select
        contact_id,
        segment_keys,
        primary_segment_key,
        cast(segment_count as {{ dbt.type_bigint() }}) as segment_count,
        cast(null as timestamp) as dbt_updated_at
    from gone
    {% endif %}

)

select * from final
