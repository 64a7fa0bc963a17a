{#
    Segments are declared once, in the `meta.segments` list of the `segments`
    model (models/marts/segments/_segments__models.yml). These macros read that
    list from dbt's graph and turn it into SQL; adding a segment is adding an
    entry there, nothing else.

    Entry fields: key (slug, unique), label, description, rule (a SQL boolean
    condition over the columns of dim_contacts), and optionally priority
    (lower wins when choosing a contact's primary segment; default 1000) and
    category (default 'custom').
#}

{% macro segment_definitions() %}
    {#- The graph is only filled at execution; parsing sees no segments. -#}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set node = graph.nodes.get('model.' ~ project_name ~ '.segments') -%}
    {%- if node is none -%}
        {{ exceptions.raise_compiler_error("model `segments` not found") }}
    {%- endif -%}
    {%- set declared = node.config.meta.get('segments', []) -%}
    {%- set definitions = [] -%}
    {%- set seen = [] -%}
    {%- for entry in declared -%}
        {%- set key = entry.get('key') | string -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]{0,62}$', key) -%}
            {{ exceptions.raise_compiler_error(
                "segment key '" ~ key ~ "' must be a slug: lower-case "
                ~ "letters, digits and underscores, starting with a letter") }}
        {%- endif -%}
        {%- if key in seen -%}
            {{ exceptions.raise_compiler_error(
                "segment key '" ~ key ~ "' is declared twice") }}
        {%- endif -%}
        {%- for field in ['label', 'description', 'rule'] -%}
            {%- if not entry.get(field) -%}
                {{ exceptions.raise_compiler_error(
                    "segment '" ~ key ~ "' has no " ~ field) }}
            {%- endif -%}
        {%- endfor -%}
        {%- do seen.append(key) -%}
        {%- do definitions.append({
            'key': key,
            'label': entry['label'] | string,
            'description': entry['description'] | string | trim,
            'category': entry.get('category', 'custom') | string,
            'priority': entry.get('priority', 1000) | int,
            'rule': entry['rule'] | string | trim,
        }) -%}
    {%- endfor -%}
    {{ return(definitions) }}
{% endmacro %}

{# A SQL string literal, quotes escaped. #}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#
    The declared segments as rows: key, label, description, category,
    priority, rule (one `select` per segment, unioned).
#}
{% macro segment_definitions_sql() %}
    {%- set definitions = segment_definitions() -%}
    {%- for segment in definitions %}
    select
        cast({{ sql_string(segment.key) }} as {{ dbt.type_string() }})
            as segment_key,
        cast({{ sql_string(segment.label) }} as {{ dbt.type_string() }})
            as segment_label,
        cast({{ sql_string(segment.description) }} as {{ dbt.type_string() }})
            as segment_description,
        cast({{ sql_string(segment.category) }} as {{ dbt.type_string() }})
            as segment_category,
        cast({{ sql_string(segment.rule) }} as {{ dbt.type_string() }})
            as segment_rule,
        cast({{ segment.priority }} as integer) as segment_priority
    {% if not loop.last %}union all{% endif %}
    {%- else %}
    {#- No segment declared: an empty, typed relation. #}
    select
        cast(null as {{ dbt.type_string() }}) as segment_key,
        cast(null as {{ dbt.type_string() }}) as segment_label,
        cast(null as {{ dbt.type_string() }}) as segment_description,
        cast(null as {{ dbt.type_string() }}) as segment_category,
        cast(null as {{ dbt.type_string() }}) as segment_rule,
        cast(null as integer) as segment_priority
    where 1 = 0
    {%- endfor %}
{% endmacro %}

{#
    Every (contact, segment) pair of the relation `segmented` (rows of
    int_contacts_segmented): its `;`-joined keys split into rows. The rules
    are evaluated once, in int_contacts_segmented; the models that list
    memberships read them from there, so they always agree with it.
#}
{% macro segment_memberships_sql(segmented) %}
    select
        contact_id,
        segment_key
    from (
        select
            contact_id,
            {{ unnest_split('segment_keys') }} as segment_key
        from {{ segmented }}
        where segment_keys != ''
    ) as split_keys
    where segment_key != ''
{% endmacro %}


{#
    Each send with the segments its contact was in for the campaign's
    membership basis: from the membership history (`history` intervals), or
    today's members (`current_members`). `sends` needs contact_id, sent_at
    and membership_basis. From the history, a send on day D takes the
    membership recorded for the day before: the record for D itself counts
    events up to its run, which may be after the send (the recipient's own
    open of it would then put them in a more engaged segment).
#}
{% macro sends_in_segments_sql(sends, history, current_members) -%}
    select
        {{ sends }}.*,
        {{ history }}.segment_key
    from {{ sends }}
    inner join {{ history }}
        on
            {{ sends }}.contact_id = {{ history }}.contact_id
            and {{ history }}.valid_from < cast({{ sends }}.sent_at as date)
            and (
                {{ history }}.valid_to is null
                or cast({{ sends }}.sent_at as date) <= {{ history }}.valid_to
            )
    where {{ sends }}.membership_basis = 'history'
    union all
    select
        {{ sends }}.*,
        {{ current_members }}.segment_key
    from {{ sends }}
    inner join {{ current_members }}
        on {{ sends }}.contact_id = {{ current_members }}.contact_id
    where {{ sends }}.membership_basis = 'current'
{%- endmacro %}

{#
    Each contact's segments from the relation `contacts` (a CTE over
    dim_contacts) in one pass, without a row per membership: `flags` selects
    one boolean per segment (`is_member_<n>`), then segment_set_sql turns
    them into the sorted `;`-joined keys (sorted here, at compile time, so
    every database sorts alike), the primary segment (lowest priority, then
    key) and the count.
#}
{% macro segment_flags_sql(contacts) %}
    select
        {{ contacts }}.contact_id
        {%- for segment in segment_definitions() %},
        coalesce(({{ segment.rule }}), false) as is_member_{{ loop.index }}
        {%- endfor %}
    from {{ contacts }}
{% endmacro %}

{% macro segment_set_sql(flags) %}
    {%- set definitions = segment_definitions() -%}
    {%- set numbered = [] -%}
    {%- for segment in definitions -%}
        {%- do numbered.append({'n': loop.index, 'key': segment.key,
                                'priority': segment.priority}) -%}
    {%- endfor -%}
    select
        {{ flags }}.contact_id,
        {%- if numbered %}
        {%- set keys = [] -%}
        {%- for segment in numbered | sort(attribute='key') -%}
            {%- do keys.append('case when is_member_' ~ segment.n ~ ' then '
                ~ sql_string(segment.key) ~ ' end') -%}
        {%- endfor %}
        {{ join_non_null(keys, "';'") }} as segment_keys,
        case
            {%- for segment in numbered | sort(attribute='key')
                | sort(attribute='priority') %}
            when is_member_{{ segment.n }} then {{ sql_string(segment.key) }}
            {%- endfor %}
        end as primary_segment_key,
        {%- for segment in numbered %}
        case when is_member_{{ segment.n }} then 1 else 0 end
        {%- if not loop.last %} +{% endif %}
        {%- endfor %} as segment_count
        {%- else %}
        cast('' as {{ dbt.type_string() }}) as segment_keys,
        cast(null as {{ dbt.type_string() }}) as primary_segment_key,
        0 as segment_count
        {%- endif %}
    from {{ flags }}
{% endmacro %}
