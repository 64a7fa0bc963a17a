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
