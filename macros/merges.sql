{#
    Which record each merged-away id now lives in, for any object type that
    HubSpot merges (contacts, companies, deals). `records` is a relation with
    the record id `id_column`, its `hs_merged_object_ids` as
    `merged_ids_column` (`;`-joined: a chain of merges lists every earlier id
    on the final survivor), `is_archived` and `updated_at`. Should an id
    appear on two records, the live, most recently updated one wins (an
    unknown update time last, on every database), then the lowest id. Blanks and self references are ignored. Selects `merged_id`
    and `survivor_id`.
#}
{% macro merge_survivors_sql(records, id_column, merged_ids_column) -%}
    select
        merged_id,
        survivor_id
    from (
        select
            trim(merged_id) as merged_id,
            {{ id_column }} as survivor_id,
            row_number() over (
                partition by trim(merged_id)
                order by
                    is_archived asc,
                    updated_at desc nulls last,
                    length({{ id_column }}) asc,
                    {{ id_column }} asc
            ) as survivor_rank
        from (
            select
                {{ id_column }},
                is_archived,
                updated_at,
                {{ unnest_split(merged_ids_column) }} as merged_id
            from {{ records }}
            where {{ merged_ids_column }} is not null
        ) as merged_ids_split
        where
            trim(merged_id) <> ''
            and trim(merged_id) <> {{ id_column }}
    ) as merged_ids_ranked
    where survivor_rank = 1
{%- endmacro %}
