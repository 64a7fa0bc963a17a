{#
    Timestamps in the warehouse are UTC, without a time zone
    (`timestamp`), whatever the source gave. HubSpot sends ISO-8601 text with
    a `Z` (v3 CRM), epoch milliseconds (email events v1), and dlt may store
    parsed values as `timestamp with time zone`.
#}

{#
    ISO-8601 text ('2025-03-15T21:52:35.138Z' or '2025-03-15') → timestamp.
    A date alone (HubSpot's date properties) is midnight UTC: cast through a
    zoned type it would be read in the session's time zone, which is the
    host's, and land on the day before east of Greenwich. Twelve or thirteen
    digits alone are epoch milliseconds (1973 to 2286; HubSpot's published
    examples hold such values); other digit strings (epoch seconds, 20250315)
    fail the cast loudly rather than land in 1970.
#}
{% macro text_to_timestamp(expression) -%}
    {%- set text = clean_text(expression) -%}
    {%- set zoned = 'cast(' ~ text ~ ' as ' ~ dbt.type_timestamp() ~ ' with time zone)' -%}
    case
        when
            ltrim({{ text }}, '0123456789') = ''
            and length({{ text }}) between 12 and 13
            then {{ epoch_ms_to_timestamp(text) }}
        when length({{ text }}) = 10
            then cast(cast({{ text }} as date) as {{ dbt.type_timestamp() }})
        else {{ to_utc_timestamp(zoned) }}
    end
{%- endmacro %}

{# `timestamp with time zone` (or naive UTC) → naive UTC timestamp. #}
{% macro to_utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'hubseg')(expression)) }}
{%- endmacro %}

{% macro default__to_utc_timestamp(expression) -%}
    cast({{ expression }} at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__to_utc_timestamp(expression) -%}
    cast(timezone('UTC', {{ expression }}) as timestamp)
{%- endmacro %}

{# Epoch milliseconds (integer) → timestamp. #}
{% macro epoch_ms_to_timestamp(expression) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp', 'hubseg')(expression)) }}
{%- endmacro %}

{% macro default__epoch_ms_to_timestamp(expression) -%}
    cast(
        to_timestamp(cast({{ expression }} as bigint) / 1000.0) at time zone 'UTC'
        as {{ dbt.type_timestamp() }}
    )
{%- endmacro %}

{% macro duckdb__epoch_ms_to_timestamp(expression) -%}
    epoch_ms(cast({{ expression }} as bigint))
{%- endmacro %}
