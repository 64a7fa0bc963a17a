"""`generate`: write a deterministic synthetic portal to a fresh SQLite store.

Same seed + same anchor → identical table contents (only `meta.clock_offset_ms` and
`meta.generated_at_ms` depend on the wall clock). Every generated timestamp is ≤ the anchor,
which becomes the portal's "now" (`clock_offset_ms = anchor_ms - real now`).

Bulk loading: the store is brand new, so journaling and fsync are switched off and the
secondary indexes are dropped while rows stream in (in chunks, with `executemany`), then the
indexes are rebuilt and WAL mode restored for the server and `advance`.
"""

from __future__ import annotations

import queue
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from sandbox import store
from sandbox.portal import crm, schema, vocab
from sandbox.portal.clock import iso
from sandbox.portal.crm import Companies, Contacts
from sandbox.portal.deals import Deal, deal_props, make_deals
from sandbox.portal.emails import (
    INSERT_CAMPAIGN,
    INSERT_EVENTS,
    Campaign,
    MailState,
    campaign_row,
    cohorts,
    dormant_since,
    location_json,
    plan_campaigns,
    send_campaign,
    stray_addresses,
)
from sandbox.portal.presets import Preset, get_preset
from sandbox.portal.rand import DAY_MS, NEVER, stream
from sandbox.portal.schema import LIFECYCLE_STAGES

CHUNK = 20_000
FIRST_CAMPAIGN_ID = 21_000_000
INSERT_OBJECTS = "insert into objects values (?,?,?,?,?,?,?,?)"
INSERT_HISTORY = "insert into history values (?,?,?,?,?,?)"
INSERT_ASSOCIATIONS = "insert into associations values (?,?,?,?,?,?,?)"


def anchor_ms_of(anchor: str | None) -> int:
    """'YYYY-MM-DD' at 00:00 UTC in epoch ms; today (UTC) when not given."""
    if anchor is None:
        today = datetime.now(UTC).date()
    else:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", anchor):
            raise ValueError(f"anchor must be YYYY-MM-DD, not {anchor!r}")
        today = datetime.strptime(anchor, "%Y-%m-%d").replace(tzinfo=UTC).date()
    return int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000)


def generate(path: Path | str, *, preset: str, seed: int, anchor: str | None,
             custom_properties: int) -> dict:
    """Create the portal at `path` (replacing it) and return a JSON-able summary."""
    started = time.monotonic()
    spec = get_preset(preset)
    anchor_ms = anchor_ms_of(anchor)
    if not 0 <= custom_properties <= 5_000:
        raise ValueError("custom_properties must be between 0 and 5000")
    start_ms = anchor_ms - spec.history_days * DAY_MS
    con = store.create(path)
    try:
        _bulk_mode(con, on=True)
        _write_metadata(con, spec, seed, anchor_ms, start_ms, custom_properties)
        companies = crm.make_companies(stream(seed, "companies"), spec.companies, start_ms,
                                       anchor_ms)
        contacts = crm.make_contacts(stream(seed, "contacts"), spec.contacts, companies,
                                     start_ms, anchor_ms)
        deals = make_deals(stream(seed, "deals"), spec.deals, contacts, companies, anchor_ms)
        state = mail_state(seed, contacts, anchor_ms)
        with BulkWriter(con) as writer:
            email_summary = _write_campaigns(writer, spec, seed, state, start_ms, anchor_ms)
            _write_contacts(writer, seed, contacts, companies, state, custom_properties)
            _write_companies(writer, companies)
            _write_deals(writer, deals)
            associations = _write_associations(writer, contacts, companies, deals)
        store.set_meta(con, "audience_share", email_summary.pop("audience_share"))
        _bulk_mode(con, on=False)
    finally:
        con.close()
    live = contacts.live()
    return {
        "store": str(path), "preset": spec.name, "seed": seed,
        "portal_id": schema.portal_id_for(seed), "anchor": store.iso_ms(anchor_ms),
        "contacts": int(live.sum()), "contacts_archived": int(contacts.archived.sum()),
        "contacts_merged": int((contacts.merged_into >= 0).sum()),
        "companies": len(companies), "deals": sum(d.archived_ms is None for d in deals),
        "deals_archived": sum(d.archived_ms is not None for d in deals),
        "associations": associations, **email_summary,
        "custom_properties": custom_properties,
        "seconds": round(time.monotonic() - started, 1),
    }


def portal_token(path: Path | str) -> str:
    """The private-app token `generate` wrote (for HUBSPOT_ACCESS_TOKEN)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no sandbox portal at {path}: run `hubseg sandbox generate`")
    con = store.connect(path, readonly=True)
    try:
        row = con.execute("select token from tokens where name = 'default'").fetchone()
    finally:
        con.close()
    if row is None:
        raise LookupError(f"portal {path} has no default token")
    return row[0]


class BulkWriter:
    """Runs the inserts in a background thread, so SQLite's work overlaps building rows.

    sqlite3 releases the GIL while it steps a statement; with two cores the generator keeps
    simulating while the previous batch is written. One thread writes, so rows keep their
    order (and `email_events.seq` stays deterministic).
    """

    def __init__(self, con: sqlite3.Connection, depth: int = 8) -> None:
        self.con = con
        self.queue: queue.Queue[tuple[str, list[tuple]] | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="bulk-writer", daemon=True)

    def __enter__(self) -> BulkWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and exc[0] is None:
            raise self.error

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:  # after a failure, keep draining so producers never block
                try:
                    self.con.executemany(*item)
                except BaseException as e:
                    self.error = e

    def put(self, sql: str, rows: list[tuple]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((sql, rows))

    def insert(self, sql: str, rows: Iterable[tuple]) -> int:
        """Queue rows in chunks; returns how many."""
        count = 0
        for batch in _chunks(rows):
            self.put(sql, batch)
            count += len(batch)
        return count


_INDEXES = ("objects_updated", "objects_email", "history_object", "email_events_created",
            "email_events_campaign", "email_events_recipient")


def _bulk_mode(con: sqlite3.Connection, *, on: bool) -> None:
    """Fast loading into a fresh file, then back to the durable WAL set-up everyone expects."""
    if on:
        con.execute("pragma journal_mode = off")
        con.execute("pragma synchronous = off")
        con.execute("pragma cache_size = -262144")
        for name in _INDEXES:
            con.execute(f"drop index if exists {name}")
        con.execute("begin")
    else:
        con.execute("commit")
        con.executescript(store.SCHEMA)  # `create index if not exists` rebuilds the indexes
        con.execute("pragma journal_mode = wal")
        con.execute("pragma synchronous = normal")
        con.execute("pragma analysis_limit = 1000")  # sampled statistics: fast on big tables
        con.execute("analyze")


def _write_metadata(con: sqlite3.Connection, spec: Preset, seed: int, anchor_ms: int,
                    start_ms: int, custom_properties: int) -> None:
    meta = {
        "portal_id": schema.portal_id_for(seed), "seed": seed, "preset": spec.name,
        "anchor_ms": anchor_ms, "clock_offset_ms": anchor_ms - store.real_now_ms(),
        "generated_at_ms": store.real_now_ms(), "advanced_days": 0,
        "custom_properties": custom_properties,
    }
    for key, value in meta.items():
        store.set_meta(con, key, value)
    con.execute("insert into tokens values (?, 'default', ?, ?)",
                (schema.token_for(seed), schema.SCOPES, start_ms))
    portal_born = start_ms - 30 * DAY_MS
    con.executemany("insert into properties values (?,?,?,?)",
                    schema.property_rows(portal_born, start_ms + 10 * DAY_MS,
                                         custom_properties))
    con.executemany("insert into property_groups values (?,?,?,?)", schema.group_rows())
    con.executemany("insert into pipelines values (?,?,?)", schema.pipeline_rows(portal_born))


def mail_state(seed: int, contacts: Contacts, anchor_ms: int) -> MailState:
    """What the campaign simulation needs to know about every contact, at its start."""
    places = [crm.PLACES[p] for p in contacts.place.tolist()]
    location = [location_json(vocab.COUNTRIES[c].name, vocab.COUNTRIES[c].regions[r][0], city)
                for (c, r), city in zip(places, contacts.city, strict=True)]
    return MailState(ids=contacts.ids, address=contacts.address, created=contacts.created,
                     gone=contacts.gone, cohort=cohorts(seed, contacts.ids),
                     dormant_since=dormant_since(seed, contacts.ids, anchor_ms),
                     location=location)


def audience_share(spec: Preset, state: MailState, campaigns: list[Campaign]) -> float:
    """The list share that makes campaigns average `spec.sends_per_campaign` recipients."""
    created = np.sort(state.created[state.mailable])
    eligible = np.searchsorted(created, [c.sent_ms for c in campaigns]).sum()
    return float(min(1.0, spec.sends_per_campaign * len(campaigns) / max(1, eligible)))


def _write_campaigns(writer: BulkWriter, spec: Preset, seed: int, state: MailState,
                     start_ms: int, anchor_ms: int) -> dict:
    campaigns = plan_campaigns(stream(seed, "campaigns"), spec.campaigns,
                               start_ms + 14 * DAY_MS, anchor_ms, FIRST_CAMPAIGN_ID)
    share = audience_share(spec, state, campaigns)
    strays = stray_addresses(seed, spec)
    events = 0
    for k, campaign in enumerate(campaigns):
        result = send_campaign(stream(seed, "campaign", k), campaign, state, share=share,
                               horizon_ms=anchor_ms, strays=strays)
        writer.put(INSERT_EVENTS, result.rows)
        writer.put(INSERT_CAMPAIGN, [campaign_row(campaign, result)])
        events += len(result.rows)
    return {"campaigns": len(campaigns), "email_events": events, "audience_share": share}


def _chunks(rows: Iterable[tuple], size: int = CHUNK) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def custom_values(rng: np.random.Generator, specs: tuple[schema.PropertySpec, ...]
                  ) -> dict[str, str]:
    """Values for some of the `custom_prop_*` properties (about 20 per contact at most)."""
    if not specs:
        return {}
    chosen = np.flatnonzero(rng.random(len(specs)) < min(0.5, 20 / len(specs)))
    out = {}
    for j in chosen:
        spec = specs[j]
        if spec.type == "number":
            out[spec.name] = str(int(rng.integers(0, 10_000)))
        elif spec.options:
            out[spec.name] = spec.options[int(rng.integers(len(spec.options)))][0]
        else:
            out[spec.name] = f"value {int(rng.integers(0, 1000))}"
    return out


def _write_contacts(writer: BulkWriter, seed: int, c: Contacts, companies: Companies,
                    state: MailState, custom_properties: int) -> None:
    merged = crm.survivors(c)
    specs = schema.custom_property_specs(custom_properties)
    rng = stream(seed, "custom-values")
    updated = contact_updated(c, state).tolist()
    ids, created, gone = c.ids.tolist(), c.created.tolist(), c.gone.tolist()
    archived = c.archived.tolist()

    def rows() -> Iterator[tuple]:
        for i in np.flatnonzero(c.merged_into < 0).tolist():  # merged-away records are gone
            props = crm.contact_props(c, companies, i)
            props.update(state.props(i, c.email[i] is not None))
            props.update(custom_values(rng, specs))
            if i in merged:
                props["hs_merged_object_ids"] = ";".join(str(ids[j]) for j in merged[i])
            props["lastmodifieddate"] = iso(updated[i])
            email = c.email[i]
            yield ("contacts", ids[i], created[i], updated[i], int(archived[i]),
                   gone[i] if archived[i] else None, email.strip().lower() if email else None,
                   store.dumps(props))

    writer.insert(INSERT_OBJECTS, rows())
    writer.insert("insert into merged_ids values (?,?,?)",
                  (("contacts", ids[j], ids[s]) for s, js in merged.items() for j in js))
    writer.insert(INSERT_HISTORY, _lifecycle_history(c))


def contact_updated(c: Contacts, state: MailState) -> np.ndarray:
    """Each contact's last change: creation, a stage step, an email event, a merge into it,
    or its archiving."""
    stages = np.where(c.stage_ms == NEVER, 0, c.stage_ms).max(axis=1)
    updated = np.maximum.reduce([c.created, stages, state.touched,
                                 np.where(c.archived, c.gone, 0)])
    losers = np.flatnonzero(c.merged_into >= 0)
    np.maximum.at(updated, c.merged_into[losers], c.gone[losers])
    return updated


def _lifecycle_history(c: Contacts) -> Iterator[tuple]:
    """One history row per lifecycle step (the first one came with the form or import)."""
    on_path = (c.stage_ms != NEVER) & (c.merged_into < 0)[:, None]
    rows, stages = np.nonzero(on_path)
    first = np.r_[True, rows[1:] != rows[:-1]]  # nonzero() lists each row's steps in order
    imported = c.attrs[:, 0] >= 0.6
    for i, s, is_first, at in zip(rows.tolist(), stages.tolist(), first.tolist(),
                                  c.stage_ms[rows, stages].tolist(), strict=True):
        source = ("IMPORT" if imported[i] else "FORM") if is_first else "AUTOMATION_PLATFORM"
        yield ("contacts", int(c.ids[i]), "lifecyclestage", LIFECYCLE_STAGES[s], at, source)


def _write_companies(writer: BulkWriter, companies: Companies) -> None:
    writer.insert(INSERT_OBJECTS, (
        ("companies", int(companies.ids[i]), int(companies.created[i]),
         int(companies.updated[i]), 0, None, None,
         store.dumps(crm.company_props(companies, i)))
        for i in range(len(companies))))


def _write_deals(writer: BulkWriter, deals: list[Deal]) -> None:
    writer.insert(INSERT_OBJECTS, (
        ("deals", d.id, d.created, d.updated, int(d.archived_ms is not None), d.archived_ms,
         None, store.dumps(deal_props(d))) for d in deals))
    writer.insert(INSERT_HISTORY, (
        ("deals", d.id, "dealstage", stage, at, "CRM_UI") for d in deals for stage, at in d.path))


def association_rows(from_type: str, from_id: int, to_type: str, to_id: int,
                     type_ids: tuple[int, ...], reverse_ids: tuple[int, ...]) -> list[tuple]:
    """Both directions of one association; the first type id of each side is the primary."""
    rows = []
    for (a_type, a_id, b_type, b_id), ids in (((from_type, from_id, to_type, to_id), type_ids),
                                              ((to_type, to_id, from_type, from_id),
                                               reverse_ids)):
        for k, type_id in enumerate(ids):
            label = "Primary" if k == 0 and len(ids) > 1 else None
            rows.append((a_type, a_id, b_type, b_id, type_id, "HUBSPOT_DEFINED", label))
    return rows


def _write_associations(writer: BulkWriter, c: Contacts, companies: Companies,
                        deals: list[Deal]) -> int:
    """Associations between live records only (archiving removes them in HubSpot)."""
    company_ids, contact_ids = companies.ids.tolist(), c.ids.tolist()
    live = np.flatnonzero(c.live())

    def rows() -> Iterator[tuple]:
        for i, first, second in zip(live.tolist(), c.company[live].tolist(),
                                    c.second_company[live].tolist(), strict=True):
            if first >= 0:
                yield from association_rows("contacts", contact_ids[i], "companies",
                                            company_ids[first], (1, 279), (2, 280))
            if second >= 0:
                yield from association_rows("contacts", contact_ids[i], "companies",
                                            company_ids[second], (279,), (280,))
        for d in deals:
            if d.archived_ms is not None:
                continue
            for i in d.contacts:
                yield from association_rows("deals", d.id, "contacts", contact_ids[i], (3,),
                                            (4,))
            if d.company >= 0:
                yield from association_rows("deals", d.id, "companies", company_ids[d.company],
                                            (5, 341), (6, 342))

    return writer.insert(INSERT_ASSOCIATIONS, rows())
