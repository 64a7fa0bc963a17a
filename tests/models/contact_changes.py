"""Day-2 changes to the CRM, made on the portal before the incremental extract.

Changes that move email addresses between contacts, so that an incremental build has to
re-attribute old messages:

- a contact takes the address of an older contact (two contacts now share it; the older one
  keeps owning it). HubSpot's API refuses a duplicate address (409), imports do not, so this
  is written to the portal's store, as the generator writes its duplicates;
- the owner of an address shared by two contacts is archived (the other one takes it over),
  through HubSpot's SDK;
- a contact is merged into another through HubSpot's SDK: its record disappears, the
  survivor lists its id in `hs_merged_object_ids` and is modified.

And merges through the SDK of a won deal into another won deal (`merge_won_deals`) and of a
contact's primary company into another company (`merge_companies`): the warehouse keeps the
merged-away record's row from day 1, since HubSpot lists it no more.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from hubspot.crm.companies import PublicMergeInput as CompanyMergeInput
from hubspot.crm.contacts import PublicMergeInput as ContactMergeInput
from hubspot.crm.deals import PublicMergeInput as DealMergeInput

from sandbox.portal.clock import iso
from sandbox.server.process import RunningServer
from sandbox.store import connect, portal_now_ms
from tests.models.event_store import won_deals_by_contact
from tests.sandbox.helpers import sdk


@dataclass(frozen=True)
class ContactChanges:
    copied_email: str  # now on `copier` too; `original` (older) keeps owning it
    original: str
    copier: str
    archived_owner: str  # owned `shared_email` with `heir`, archived
    shared_email: str
    heir: str
    merged_away: str  # merged into `survivor`; its address has no owner any more
    merged_email: str
    survivor: str


MailedContact = tuple[int, int, str, bool]  # id, created, address, has a deal


def _mailed_contacts(con: sqlite3.Connection) -> list[MailedContact]:
    """Live contacts whose address got messages, oldest first."""
    return con.execute(
        "select id, created_ms, email_key, id in (select from_id from associations "
        "where from_type = 'contacts' and to_type = 'deals') from objects "
        "where object_type = 'contacts' and archived = 0 and email_key in "
        "(select recipient from email_events where type = 'SENT') "
        "order by created_ms, id").fetchall()


def _shared_addresses(mailed: list[MailedContact]) -> dict[str, list[tuple[int, int]]]:
    """Address → its contacts as (created, id), for addresses with two or more."""
    holders: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for contact_id, created, email, _ in mailed:
        holders[email].append((created, contact_id))
    return {email: sorted(ids) for email, ids in holders.items() if len(ids) > 1}


def _modify(con: sqlite3.Connection, contact_id: int, **changes: str) -> None:
    """Set properties of a contact and make it modified now (so search finds it)."""
    now = portal_now_ms(con)
    (props,) = con.execute("select props from objects where object_type = 'contacts' "
                           "and id = ?", (contact_id,)).fetchone()
    values = {**json.loads(props), **changes, "lastmodifieddate": iso(now)}
    email = (values.get("email") or "").strip().lower() or None
    con.execute("update objects set props = ?, updated_ms = ?, email_key = ? "
                "where object_type = 'contacts' and id = ?",
                (json.dumps(values), now, email, contact_id))


def _wait_for_the_next_second(con: sqlite3.Connection) -> None:
    """Return once the portal clock is in a later second than the changes.

    An extract's window ends at the server's `Date` header, which has whole seconds: a change
    made in the second of the extract's first answer belongs to the next run's window (the 60 s
    index-lag margin covers this against HubSpot; the tests run with none).
    """
    changed_second = portal_now_ms(con) // 1000
    while portal_now_ms(con) // 1000 <= changed_second:
        time.sleep(0.05)


def change_contacts(server: RunningServer, store: Path) -> ContactChanges:
    con = connect(store)
    try:
        mailed = _mailed_contacts(con)
        addresses = _shared_addresses(mailed)
        shared_email, shared = min(addresses.items())
        alone = [c for c in mailed if c[2] not in addresses and not c[3]]  # oldest first
        original, merged_away, survivor, copier = alone[0], alone[1], alone[2], alone[-1]
        _modify(con, copier[0], email=original[2])
        sdk(server).crm.contacts.basic_api.archive(str(shared[0][1]))
        sdk(server).crm.contacts.basic_api.merge(public_merge_input=ContactMergeInput(
            primary_object_id=str(survivor[0]), object_id_to_merge=str(merged_away[0])))
        _wait_for_the_next_second(con)
    finally:
        con.close()
    return ContactChanges(
        copied_email=original[2], original=str(original[0]), copier=str(copier[0]),
        archived_owner=str(shared[0][1]), shared_email=shared_email, heir=str(shared[1][1]),
        merged_away=str(merged_away[0]), merged_email=merged_away[2], survivor=str(survivor[0]))


@dataclass(frozen=True)
class DealMerge:
    merged_away: str  # a won deal of `contact` alone, merged into `survivor`
    survivor: str  # a won deal of other contacts, with another amount
    contact: str
    survivor_amount: float


def merge_won_deals(server: RunningServer, store: Path, avoid: set[str]) -> DealMerge:
    """Merge the only won deal of a live contact into another contact's won deal; `avoid`:
    ids of contacts that other changes of the day touch."""
    con = connect(store)
    try:
        won = won_deals_by_contact(con)
        contacts_of: dict[int, set[int]] = defaultdict(set)
        for deal_id, contact_id in con.execute("select from_id, to_id from associations "
                                               "where from_type = 'deals' "
                                               "and to_type = 'contacts'"):
            contacts_of[deal_id].add(contact_id)
        (contact, [(merged_away, _, amount)]) = min(
            (c, deals) for c, deals in won.items()
            if len(deals) == 1 and contacts_of[deals[0][0]] == {c})
        survivor, _, survivor_amount = min(
            deal for c, deals in won.items() if c != contact for deal in deals
            if deal[2] != amount and contact not in contacts_of[deal[0]])
        sdk(server).crm.deals.basic_api.merge(public_merge_input=DealMergeInput(
            primary_object_id=str(survivor), object_id_to_merge=str(merged_away)))
        _wait_for_the_next_second(con)
    finally:
        con.close()
    return DealMerge(str(merged_away), str(survivor), str(contact), survivor_amount)


@dataclass(frozen=True)
class CompanyMerge:
    merged_away: str  # the primary company of `contact`, merged into `survivor`
    survivor: str  # a company with another name
    contact: str
    survivor_name: str


def merge_companies(server: RunningServer, store: Path, avoid: set[str]) -> CompanyMerge:
    """Merge a live contact's primary company into a company with another name; `avoid`: ids
    of contacts that other changes of the day touch."""
    con = connect(store)
    try:
        primaries = con.execute(
            "select a.from_id, a.to_id from associations a join objects o "
            "on o.object_type = 'contacts' and o.id = a.from_id and o.archived = 0 "
            "where a.from_type = 'contacts' and a.to_type = 'companies' and a.type_id = 1 "
            "order by a.from_id").fetchall()
        names = {company_id: json.loads(props).get("name") for company_id, props in con.execute(
            "select id, props from objects where object_type = 'companies' and archived = 0")}
        contact, merged_away = next((c, x) for c, x in primaries if str(c) not in avoid)
        survivor = min(c for c, name in names.items() if name != names[merged_away])
        sdk(server).crm.companies.basic_api.merge(public_merge_input=CompanyMergeInput(
            primary_object_id=str(survivor), object_id_to_merge=str(merged_away)))
        _wait_for_the_next_second(con)
    finally:
        con.close()
    return CompanyMerge(str(merged_away), str(survivor), str(contact), str(names[survivor]))
