{#
    The campaign metrics, defined once and shared by campaign_performance and
    campaign_segment_performance. `email_send_counts` aggregates rows of
    fct_email_sends (one per message); `email_send_rates` turns the counts
    into rates. Definitions are in models/marts/email/_email__models.yml.
#}

{% macro email_send_counts(sends) -%}
    count(*) as sends,
    count(distinct {{ sends }}.recipient_email) as recipients,
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
    count(case when {{ sends }}.{{ flag }} then 1 end)
        as {{ name }},
    {%- endfor %}
    count(distinct case when {{ sends }}.is_opened then {{ sends }}.recipient_email end)
        as unique_open_recipients,
    count(distinct case when {{ sends }}.is_clicked then {{ sends }}.recipient_email end)
        as unique_click_recipients,
    cast(sum({{ sends }}.open_count) as bigint) as total_opens,
    cast(sum({{ sends }}.click_count) as bigint) as total_clicks,
    min({{ sends }}.sent_at) as first_sent_at,
    max({{ sends }}.sent_at) as last_sent_at
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
