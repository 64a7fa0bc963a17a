{#
    One output row per item of a delimited string, as a set-returning
    expression for the select list (`select id, {{ unnest_split('x') }} as v`).
    HubSpot stores multi-checkbox values and merged ids `;`-joined. Items are
    trimmed by the caller.
#}
{% macro unnest_split(expression, delimiter=';') -%}
    {{ return(adapter.dispatch('unnest_split', 'hubseg')(expression, delimiter)) }}
{%- endmacro %}

{% macro default__unnest_split(expression, delimiter) -%}
    unnest(string_to_array({{ expression }}, '{{ delimiter }}'))
{%- endmacro %}

{% macro duckdb__unnest_split(expression, delimiter) -%}
    unnest(string_split({{ expression }}, '{{ delimiter }}'))
{%- endmacro %}
