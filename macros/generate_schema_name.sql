{#
    Custom schemas are used as they are (`staging`, `intermediate`, `marts`,
    `seeds`) instead of dbt's default `<target schema>_<custom schema>`, so the
    reverse-ETL step and BI tools find `marts.<model>` in every target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
