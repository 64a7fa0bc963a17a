{#
    The date every "as of" computation uses: var `as_of_date` (YYYY-MM-DD),
    else env HUBSEG_AS_OF_DATE (what `hubseg nightly --as-of-date` sets: a var
    that changes every night makes dbt re-parse the whole project), else the
    UTC date the run started, so all models of one run agree even when the run
    crosses midnight. The env var is read only when nodes are compiled to run,
    not while parsing: dbt re-parses every file that read an env var whose
    value changed, and the date changes every night.
#}
{% macro as_of_date_text() -%}
    {%- set configured = var('as_of_date', '') -%}
    {%- if configured in (none, '') and execute -%}
        {%- set configured = env_var('HUBSEG_AS_OF_DATE', '') -%}
    {%- endif -%}
    {%- if configured in (none, '') -%}
        {{ return(run_started_at.strftime('%Y-%m-%d')) }}
    {%- endif -%}
    {%- set configured = configured | string -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', configured) -%}
        {{ exceptions.raise_compiler_error(
            "as_of_date (var or env HUBSEG_AS_OF_DATE) must be YYYY-MM-DD, got '"
            ~ configured ~ "'") }}
    {%- endif -%}
    {{ return(configured) }}
{%- endmacro %}

{% macro as_of_date() -%}
    cast('{{ as_of_date_text() }}' as date)
{%- endmacro %}

{# The first moment after the as-of date: events strictly before it count. #}
{% macro as_of_end() -%}
    {{ dbt.dateadd('day', 1, 'cast(' ~ as_of_date() ~ ' as timestamp)') }}
{%- endmacro %}

{#
    Post-hook of incremental models with an `as_of_date` column: a run
    rewrites only the rows that changed, then this moves every other row to
    the new date (one column, in place).
#}
{% macro move_rows_to_as_of_date() -%}
    update {{ this }} set as_of_date = {{ as_of_date() }}
    where as_of_date != {{ as_of_date() }}
{%- endmacro %}
