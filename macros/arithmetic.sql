{#
    The smaller of two values, ignoring nulls (`least` returns null for a null
    argument on some databases and ignores it on others).
#}
{% macro least_not_null(left, right) -%}
    coalesce(
        case when {{ left }} <= {{ right }} then {{ left }} else {{ right }} end,
        {{ left }},
        {{ right }}
    )
{%- endmacro %}

{# numerator / denominator as a double; null when the denominator is 0. #}
{% macro safe_divide(numerator, denominator) -%}
    case
        when {{ denominator }} > 0
            then cast({{ numerator }} as double precision) / {{ denominator }}
    end
{%- endmacro %}


{#
    A 64-bit hash of a value, for grouping and joining on long strings
    cheaply where a collision only costs exactness elsewhere (never a wrong
    result): DuckDB's hash(), PostgreSQL's hashtextextended().
#}
{% macro fast_hash(expression) -%}
    {{ return(adapter.dispatch('fast_hash')(expression)) }}
{%- endmacro %}

{% macro duckdb__fast_hash(expression) -%}
    hash({{ expression }})
{%- endmacro %}

{% macro default__fast_hash(expression) -%}
    hashtextextended({{ expression }}, 0)
{%- endmacro %}
