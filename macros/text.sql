{# Blank HubSpot strings ('' or spaces) mean "no value": turn them into null. #}
{% macro clean_text(expression) -%}
    nullif(trim({{ expression }}), '')
{%- endmacro %}

{#
    The one normalisation of email addresses used everywhere: trimmed and
    lower-cased, blank → null. Event recipients and contact emails both go
    through it, so `Ann@X.com ` and `ann@x.com` match.
#}
{% macro normalize_email(expression) -%}
    lower({{ clean_text(expression) }})
{%- endmacro %}

{# A HubSpot boolean property ('true'/'false', any case) as a boolean. #}
{% macro text_to_boolean(expression) -%}
    case lower({{ clean_text(expression) }})
        when 'true' then true
        when 'false' then false
    end
{%- endmacro %}

{#
    A HubSpot number property as a decimal. HubSpot sends numbers as strings
    and an empty amount as ''. Money keeps two decimals.
#}
{% macro text_to_numeric(expression, precision=18, scale=2) -%}
    cast({{ clean_text(expression) }} as numeric({{ precision }}, {{ scale }}))
{%- endmacro %}
