{#
    Raw HubSpot tables hold one TEXT column `property_<name>` per property that
    had a value when dlt loaded it. A property nobody filled in (or a custom
    one a portal does not have, like `interests`) has no column at all, so
    staging reads properties through these macros: a missing column becomes a
    typed null instead of a compile error.
#}

{# Lower-cased column names of a relation; empty while parsing. #}
{% macro relation_column_names(relation) %}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(relation) -%}
        {%- do names.append(column.name | lower) -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}

{# `column` qualified if the relation has it, else a null of `data_type`. #}
{% macro column_or_null(column_names, column, data_type=none) -%}
    {%- if column | lower in column_names -%}
        {{ column }}
    {%- else -%}
        cast(null as {{ data_type or dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{# The raw column of HubSpot property `name`, or a null. #}
{% macro property_column(column_names, name) -%}
    {{ column_or_null(column_names, 'property_' ~ name) }}
{%- endmacro %}

{# The text of HubSpot property `name`, trimmed (blank → null). #}
{% macro hubspot_property(column_names, name) -%}
    {{ clean_text(property_column(column_names, name)) }}
{%- endmacro %}
