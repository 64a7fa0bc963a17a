{#
    The campaign metrics, defined once and shared by campaign_performance and
    campaign_segment_performance. `email_send_counts` aggregates rows of
    fct_email_sends (one per message); `email_send_rates` turns the counts
    into rates. Definitions are in models/marts/email/_email__models.yml.
#}

{#
    Counts over rows of fct_email_sends. `recipient_counts` is false when the
    caller counts recipients itself (email_recipient_counts).
#}
{% macro email_send_counts(sends, recipient_counts=true) -%}
    count(*) as sends,
    {%- for name, flag in [
        ('delivered', 'is_delivered'),
        ('bounces', 'is_bounced'),
        ('hard_bounces', 'is_hard_bounced'),
        ('soft_bounces', 'is_soft_bounced'),
        ('drops', 'is_dropped'),
        ('unique_opens', 'is_opened'),
        ('unique_clicks', 'is_clicked'),
        ('unsubscribes', 'is_unsubscribed'),
        ('spam_reports', 'is_spam_reported'),
    ] %}
    count(*) filter (where {{ sends }}.{{ flag }})
        as {{ name }},
    {%- endfor %}
    {%- if recipient_counts %}
    {{ email_recipient_counts(sends) }},
    {%- endif %}
    cast(sum({{ sends }}.open_count) as bigint) as total_opens,
    cast(sum({{ sends }}.click_count) as bigint) as total_clicks,
    min({{ sends }}.sent_at) as first_sent_at,
    max({{ sends }}.sent_at) as last_sent_at
{%- endmacro %}

{#
    The distinct-address counts (recipients, unique_open_recipients,
    unique_click_recipients). With `one_row_per_recipient`, the caller
    guarantees each address appears once among the rows counted, so rows are
    counted instead of distinct addresses: the same numbers without a
    distinct aggregate, which is what makes segment × campaign affordable at
    millions of sends. `only_if` restricts the rows counted (a condition).
#}
{% macro email_recipient_counts(sends, one_row_per_recipient=false,
                                only_if=none) -%}
    {%- for name, flag in email_recipient_count_flags().items() %}
    {%- set conditions = [only_if, sends ~ '.' ~ flag if flag else none]
        | reject('none') | list %}
    {%- if one_row_per_recipient %}
    count(*){% if conditions %} filter (where {{ conditions | join(' and ') }}){% endif %}
    {%- else %}
    count(distinct {% if flag %}case when {{ sends }}.{{ flag }} then {{ sends }}.recipient_email end
        {%- else %}{{ sends }}.recipient_email{% endif %})
    {%- endif %}
        as {{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
{%- endmacro %}

{# The distinct-address counts and the flag each counts (none: every row). #}
{% macro email_recipient_count_flags() -%}
    {{ return({'recipients': none, 'unique_open_recipients': 'is_opened',
               'unique_click_recipients': 'is_clicked'}) }}
{%- endmacro %}

{% macro email_send_rates() -%}
    {{ safe_divide('delivered', 'sends') }} as delivery_rate,
    {{ safe_divide('bounces', 'sends') }} as bounce_rate,
    {{ safe_divide('unique_opens', 'delivered') }} as open_rate,
    {{ safe_divide('unique_clicks', 'delivered') }} as click_rate,
    {{ safe_divide('unique_clicks', 'unique_opens') }} as click_to_open_rate,
    {{ safe_divide('unsubscribes', 'delivered') }} as unsubscribe_rate,
    {{ safe_divide('spam_reports', 'delivered') }} as spam_report_rate
{%- endmacro %}

{# The count columns of email_send_counts, for selects and coalesces. #}
{% macro email_send_count_columns() -%}
    {{ return(['sends', 'recipients', 'delivered', 'bounces', 'hard_bounces',
               'soft_bounces', 'drops', 'unique_opens', 'unique_clicks',
               'unsubscribes', 'spam_reports', 'unique_open_recipients',
               'unique_click_recipients', 'total_opens', 'total_clicks']) }}
{%- endmacro %}

{# The rate columns of email_send_rates, for the invariant tests. #}
{% macro email_rate_columns() -%}
    {{ return(['delivery_rate', 'bounce_rate', 'open_rate', 'click_rate',
               'click_to_open_rate', 'unsubscribe_rate', 'spam_report_rate']) }}
{%- endmacro %}
