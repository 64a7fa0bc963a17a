{#- Run at the start of every dbt invocation (on-run-start in dbt_project.yml). -#}
{% macro check_marts_file() %}
    {%- if execute and target.type == 'duckdb' and target.name != 'lint' -%}
        {%- set stale = run_query(
            "select count(*) from duckdb_tables() where database_name = '"
            ~ target.database ~ "' and schema_name = 'marts'"
        ) -%}
        {%- if stale.columns[0].values()[0] > 0 -%}
            {{ exceptions.raise_compiler_error(
                "the working warehouse (" ~ target.database ~ ") still holds the `marts` "
                ~ "schema of an older hubseg; the marts now live in their own file. Run "
                ~ "`hubseg nightly --only build` once: it moves them (with the membership "
                ~ "history, which a rebuild would lose) before building"
            ) }}
        {%- endif -%}
    {%- endif -%}
    select 1
{% endmacro %}
