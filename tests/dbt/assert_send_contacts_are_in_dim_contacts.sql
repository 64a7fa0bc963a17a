{#
    fct_email_sends.contact_id → dim_contacts (a relationships test that
    knows the as-of date). Sends are not "as of": under a past as-of date the
    owner of an address may be a contact created after that date, which
    dim_contacts does not hold yet. Any other owner missing is an error.
#}

with

sends as (

    select
        send_id,
        contact_id
    from {{ ref('fct_email_sends') }}
    where contact_id is not null

),

dim_contacts as (

    select contact_id from {{ ref('dim_contacts') }}

),

contacts_after_as_of as (

    select contact_id
    from {{ ref('int_contacts_resolved') }}
    where created_at >= {{ as_of_end() }}

)

select sends.*
from sends
left join dim_contacts
    on sends.contact_id = dim_contacts.contact_id
left join contacts_after_as_of
    on sends.contact_id = contacts_after_as_of.contact_id
where
    dim_contacts.contact_id is null
    and contacts_after_as_of.contact_id is null
