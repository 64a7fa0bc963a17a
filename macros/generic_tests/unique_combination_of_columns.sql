{#
    Fails for every combination of `combination_of_columns` that appears on
    more than one row (dbt_utils has the same test; this project installs no
    packages).
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

    select
        {{ combination_of_columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1

{% endtest %}
