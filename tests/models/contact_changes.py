"""Day-2 changes that move email addresses between contacts, made on the portal before the
incremental extract, so that an incremental build has to re-attribute old messages:

- a contact takes the address of an older contact (two contacts now share it; the older one
  keeps owning it). HubSpot's API refuses a duplicate address (409), imports do not, so this
  is written to the portal's store, as the generator writes its duplicates;
- the owner of an address shared by two contacts is archived (the other one takes it over),
  through HubSpot's SDK;
- a contact is merged into another: its record disappears, the survivor lists its id in
  `hs_merged_object_ids` and is modified (the sandbox has no merge endpoint, so this is
  written to the store too, as the generator writes merges).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sandbox.portal.clock import iso
from sandbox.server.process import RunningServer
from sandbox.store import connect, portal_now_ms
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


def _merge(con: sqlite3.Connection, survivor: int, loser: int) -> None:
    (props,) = con.execute("select props from objects where object_type = 'contacts' "
                           "and id = ?", (survivor,)).fetchone()
    merged = [m for m in (json.loads(props).get("hs_merged_object_ids") or "").split(";") if m]
    _modify(con, survivor, hs_merged_object_ids=";".join([*merged, str(loser)]))
    con.execute("delete from objects where object_type = 'contacts' and id = ?", (loser,))
    con.execute("insert into merged_ids values ('contacts', ?, ?)", (loser, survivor))


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
        _merge(con, survivor=survivor[0], loser=merged_away[0])
        _wait_for_the_next_second(con)
    finally:
        con.close()
    return ContactChanges(
        copied_email=original[2], original=str(original[0]), copier=str(copier[0]),
        archived_owner=str(shared[0][1]), shared_email=shared_email, heir=str(shared[1][1]),
        merged_away=str(merged_away[0]), merged_email=merged_away[2], survivor=str(survivor[0]))
