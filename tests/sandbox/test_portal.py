"""The synthetic portal: determinism, invariants, the mess real portals have, and `advance`."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import requests

from sandbox import store
from sandbox.portal import schema, vocab
from sandbox.portal.advance import advance
from sandbox.portal.clock import parse_iso_ms
from sandbox.portal.emails import COUNTER_KEYS
from sandbox.portal.generate import anchor_ms_of, generate, portal_token
from sandbox.portal.stats import portal_stats

ANCHOR = "2026-11-01"
DAY_MS = 86_400_000
REVERSE_TYPE = {1: 2, 279: 280, 3: 4, 5: 6, 341: 342}
REVERSE_TYPE |= {v: k for k, v in REVERSE_TYPE.items()}
HARD = set(vocab.HARD_BOUNCE_CATEGORIES)
WON_STAGES = {p.won for p in schema.PIPELINES}
CLOCK_KEYS = {"clock_offset_ms", "generated_at_ms"}


def _con(path: Path) -> sqlite3.Connection:
    return store.connect(path, readonly=True)


def _dump(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows in a stable order, minus the wall-clock meta keys."""
    con = _con(path)
    try:
        tables = [r[0] for r in con.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'")]
        out = {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in tables}
    finally:
        con.close()
    out["meta"] = [row for row in out["meta"] if row[0] not in CLOCK_KEYS]
    return out


def _objects(con: sqlite3.Connection, object_type: str) -> list[dict]:
    rows = con.execute("select id, created_ms, updated_ms, archived, archived_ms, email_key, "
                       "props from objects where object_type = ?", (object_type,))
    return [{"id": r[0], "created": r[1], "updated": r[2], "archived": r[3],
             "archived_ms": r[4], "email_key": r[5], "props": json.loads(r[6])} for r in rows]


def _events(con: sqlite3.Connection) -> list[dict]:
    cols = ("seq", "id", "created", "type", "recipient", "campaign", "sent_by_id",
            "sent_by_created", "filtered", "extra")
    rows = con.execute("select seq, id, created, type, recipient, email_campaign_id, "
                       "sent_by_id, sent_by_created, filtered_event, extra from email_events")
    return [dict(zip(cols, r, strict=True)) for r in rows]


# ------------------------------------------------------------------------------ invariants
def assert_invariants(path: Path) -> None:
    """Everything a consumer of the portal may rely on, checked from the store alone."""
    con = _con(path)
    try:
        now = store.portal_now_ms(con)
        custom = int(store.get_meta(con, "custom_properties", "0") or 0)
        objects = {t: _objects(con, t) for t in store.OBJECT_TYPES}
        events = _events(con)
        _check_objects(objects, now, custom)
        _check_associations(con, objects)
        _check_events(con, events, now)
        _check_contact_email_props(objects["contacts"], events)
        _check_merges_and_history(con, objects)
        _check_funnel(con, objects)
    finally:
        con.close()


def _check_objects(objects: dict[str, list[dict]], now: int, custom: int) -> None:
    for object_type, rows in objects.items():
        enums = schema.enumeration_options(object_type, custom)
        modified = store.LAST_MODIFIED[object_type]
        assert rows, object_type
        for row in rows:
            props = row["props"]
            assert all(isinstance(v, str) or v is None for v in props.values()), props
            assert props["hs_object_id"] == str(row["id"])
            assert props["createdate"] == store.iso_ms(row["created"])
            assert props[modified] == store.iso_ms(row["updated"])
            assert row["created"] <= row["updated"] <= now
            assert bool(row["archived"]) == (row["archived_ms"] is not None)
            for name, (allowed, multi) in enums.items():
                value = props.get(name)
                if value:
                    values = value.split(";") if multi else [value]
                    assert set(values) <= allowed, (object_type, name, value)


def _check_associations(con: sqlite3.Connection, objects: dict[str, list[dict]]) -> None:
    rows = set(con.execute("select from_type, from_id, to_type, to_id, type_id "
                           "from associations"))
    live = {(t, r["id"]) for t, rs in objects.items() for r in rs if not r["archived"]}
    for a, aid, b, bid, type_id in rows:
        assert (b, bid, a, aid, REVERSE_TYPE[type_id]) in rows, (a, aid, b, bid, type_id)
        assert (a, aid) in live
        assert (b, bid) in live
    # A primary contact→company association comes with its unlabelled twin.
    primaries = {(aid, bid) for a, aid, b, bid, t in rows if t == 1}
    assert primaries <= {(aid, bid) for a, aid, b, bid, t in rows if t == 279}


def _check_events(con: sqlite3.Connection, events: list[dict], now: int) -> None:
    sent = {e["id"]: e for e in events if e["type"] == "SENT"}
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for e in events:
        assert e["created"] <= now
        origin = sent[e["sent_by_id"]]  # every event points at a SENT event …
        assert origin["campaign"] == e["campaign"]
        assert origin["recipient"] == e["recipient"]
        assert origin["created"] == e["sent_by_created"] <= e["created"]
        if e["type"] == "SENT":
            assert e["sent_by_id"] == e["id"]  # … and a SENT event at itself
        extra = json.loads(e["extra"]) if e["extra"] else {}
        counts[e["campaign"]][e["type"].lower()] += 1
        if extra.get("portalSubscriptionStatus") == "UNSUBSCRIBED":
            counts[e["campaign"]]["unsubscribed"] += 1
    assert len({(e["id"], e["created"]) for e in events}) == len(events)
    for cid, counters in con.execute("select id, counters from email_campaigns"):
        stored = json.loads(counters)
        assert set(stored) >= set(COUNTER_KEYS)
        assert {k: v for k, v in stored.items() if v} == dict(counts[cid]), cid


def _check_contact_email_props(contacts: list[dict], events: list[dict]) -> None:
    """hs_email_* show what the events say; suppressed addresses get no more deliveries."""
    dropped = {e["sent_by_id"] for e in events if e["type"] == "DROPPED"}
    last: dict[tuple[str, str], int] = {}
    unsubscribed: dict[str, int] = {}
    hard_bounced: dict[str, int] = {}
    for e in events:
        r, t = e["recipient"], e["created"]
        if e["type"] == "SENT" and e["id"] not in dropped:
            last[r, "send"] = max(last.get((r, "send"), 0), t)
        elif e["type"] in ("OPEN", "CLICK") and not e["filtered"]:
            key = (r, e["type"].lower())
            last[key] = max(last.get(key, 0), t)
        elif e["type"] == "STATUSCHANGE":
            unsubscribed[r] = min(unsubscribed.get(r, t), t)
        elif e["type"] == "BOUNCE" and json.loads(e["extra"])["category"] in HARD:
            hard_bounced[r] = min(hard_bounced.get(r, t), t)
    for e in events:
        if e["type"] == "DELIVERED":
            blocked = min(unsubscribed.get(e["recipient"], 2**62),
                          hard_bounced.get(e["recipient"], 2**62))
            assert e["sent_by_created"] < blocked, e
    records = Counter(c["email_key"] for c in contacts)
    for c in contacts:
        props, key = c["props"], c["email_key"]
        # Per-contact counters are comparable with per-address events only when the address
        # belongs to this one record (duplicates share the history of their address).
        if "hs_email_last_send_date" not in props or records[key] > 1:
            continue
        for what in ("send", "open", "click"):
            expected = last.get((key, what))
            assert props.get(f"hs_email_last_{what}_date") == store.iso_ms(expected), (c, what)
        assert (props["hs_email_optout"] == "true") == (key in unsubscribed)
        assert bool(props.get("hs_email_hard_bounce_reason_enum")) == (key in hard_bounced)


def _check_merges_and_history(con: sqlite3.Connection, objects: dict[str, list[dict]]) -> None:
    by_id = {r["id"]: r for r in objects["contacts"]}
    for old, new in con.execute("select old_id, new_id from merged_ids"):
        assert old not in by_id
        assert str(old) in by_id[new]["props"]["hs_merged_object_ids"].split(";")
    latest: dict[int, tuple[int, str]] = {}
    for oid, value, ts in con.execute("select object_id, value, timestamp_ms from history "
                                      "where object_type = 'contacts' "
                                      "and name = 'lifecyclestage' order by rowid"):
        if oid not in latest or ts >= latest[oid][0]:
            latest[oid] = (ts, value)
    for oid, (_, value) in latest.items():
        assert by_id[oid]["props"]["lifecyclestage"] == value


def _check_funnel(con: sqlite3.Connection, objects: dict[str, list[dict]]) -> None:
    """Stages thin out down the funnel, and every customer has a won deal."""
    stages = Counter(r["props"]["lifecyclestage"] for r in objects["contacts"])
    ladder = [stages[s] for s in ("subscriber", "marketingqualifiedlead", "opportunity",
                                  "evangelist")]
    assert ladder == sorted(ladder, reverse=True), stages
    won = {r["id"] for r in objects["deals"] if r["props"]["dealstage"] in WON_STAGES}
    deals_of: dict[int, set[int]] = defaultdict(set)
    for cid, did in con.execute("select from_id, to_id from associations "
                                "where from_type = 'contacts' and to_type = 'deals'"):
        deals_of[cid].add(did)
    for r in objects["contacts"]:
        if r["props"]["lifecyclestage"] == "customer" and not r["archived"]:
            assert deals_of[r["id"]] & won, r["id"]


# ----------------------------------------------------------------------------------- tests
def test_small_portal_keeps_every_invariant(small_portal: Path) -> None:
    assert_invariants(small_portal)


def test_same_seed_and_anchor_give_identical_tables(tmp_path: Path, small_portal: Path) -> None:
    again = tmp_path / "again.sqlite"
    generate(again, preset="small", seed=7, anchor=ANCHOR, custom_properties=0)
    assert _dump(again) == _dump(small_portal)
    other = tmp_path / "other.sqlite"
    generate(other, preset="small", seed=8, anchor=ANCHOR, custom_properties=0)
    first, second = _dump(other), _dump(small_portal)
    assert first["objects"] != second["objects"]
    assert first["email_events"] != second["email_events"]


def test_clock_starts_at_the_anchor_and_nothing_is_later(small_portal: Path) -> None:
    anchor_ms = anchor_ms_of(ANCHOR)
    con = _con(small_portal)
    try:
        assert int(store.get_meta(con, "anchor_ms") or 0) == anchor_ms
        assert 0 <= store.portal_now_ms(con) - anchor_ms < DAY_MS
        latest = con.execute(
            "select max(m) from (select max(updated_ms, coalesce(archived_ms, 0)) m from objects "
            "union all select max(created) from email_events "
            "union all select max(timestamp_ms) from history "
            "union all select max(last_updated_ms) from email_campaigns)").fetchone()[0]
        assert latest <= anchor_ms
        meta = dict(con.execute("select key, value from meta"))
        assert 7 <= len(meta["portal_id"]) <= 9
        assert meta["preset"] == "small"
        assert meta["advanced_days"] == "0"
        token, scopes = con.execute("select token, scopes from tokens "
                                    "where name = 'default'").fetchone()
    finally:
        con.close()
    assert token == portal_token(small_portal)
    assert token.startswith("pat-na1-")
    assert set(scopes.split()) == set(schema.SCOPES.split())


def test_property_definitions_are_complete_hubspot_json(small_portal: Path) -> None:
    required = {"name", "label", "type", "fieldType", "groupName", "description", "options",
                "displayOrder", "calculated", "externalOptions", "hasUniqueValue", "hidden",
                "hubspotDefined", "modificationMetadata", "formField", "createdAt",
                "updatedAt", "archived"}
    con = _con(small_portal)
    try:
        defs = [(t, json.loads(d)) for t, d in con.execute(
            "select object_type, definition from properties")]
        groups = {(t, n) for t, n in con.execute("select object_type, name from property_groups")}
        pipelines = [json.loads(d) for (d,) in con.execute("select definition from pipelines")]
    finally:
        con.close()
    for object_type, d in defs:
        assert required <= set(d), d["name"]
        assert d["fieldType"] in schema.VALID_FIELD_TYPES[d["type"]]
        assert (object_type, d["groupName"]) in groups
        assert set(d["modificationMetadata"]) == {"archivable", "readOnlyDefinition",
                                                  "readOnlyValue"}
        if d["type"] != "enumeration":
            assert d["options"] == [] or d["type"] == "bool"
    read_only = {d["name"] for t, d in defs if d["modificationMetadata"]["readOnlyValue"]}
    assert {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate",
            "hs_merged_object_ids", "hs_email_last_send_date"} <= read_only
    interests = next(d for t, d in defs if d["name"] == "interests")
    assert interests["fieldType"] == "checkbox"
    assert len(interests["options"]) == 10
    assert {p["id"] for p in pipelines} == {"default", "75e28846"}
    for p in pipelines:
        closed = [s for s in p["stages"] if s["metadata"]["isClosed"] == "true"]
        assert sorted(s["metadata"]["probability"] for s in closed) == ["0.0", "1.0"]


def test_the_mess_real_portals_have_is_there(small_portal: Path) -> None:
    con = _con(small_portal)
    try:
        contacts = _objects(con, "contacts")
        deals = _objects(con, "deals")
        recipients = {r for (r,) in con.execute("select distinct recipient from email_events")}
        deals_with_contacts = {d for (d,) in con.execute(
            "select from_id from associations where from_type = 'deals' "
            "and to_type = 'contacts'")}
        merged = con.execute("select count(*) from merged_ids").fetchone()[0]
        drops = {r for (r,) in con.execute(
            "select json_extract(extra, '$.dropReason') from email_events "
            "where type = 'DROPPED'")}
        filtered = con.execute("select count(*) from email_events "
                               "where filtered_event = 1").fetchone()[0]
    finally:
        con.close()
    emails = [c["props"].get("email") for c in contacts]
    by_key: dict[str, set[str]] = defaultdict(set)
    for e in emails:
        if e:
            by_key[e.strip().lower()].add(e)
    assert any(len(variants) > 1 for variants in by_key.values())  # same email, other case
    assert any(e and e != e.strip() for e in emails)  # surrounding spaces
    assert sum(e is None for e in emails) > 5  # contacts without email
    assert merged > 5
    assert any("hs_merged_object_ids" in c["props"] for c in contacts)
    assert sum(c["archived"] for c in contacts) > 5
    assert sum(d["archived"] for d in deals) > 0
    assert recipients - set(by_key)  # events for people who are not contacts
    live_deals = [d for d in deals if not d["archived"]]
    assert any(d["id"] not in deals_with_contacts for d in live_deals)  # deals without contact
    assert any("amount" not in d["props"] for d in deals)  # deals nobody priced
    stages = {d["props"]["dealstage"] for d in deals}
    for pipeline in schema.PIPELINES:  # both pipelines have won, lost and open deals
        assert {pipeline.won, pipeline.lost} <= stages
        assert stages & {s.id for s in pipeline.open_stages}
    names = [c["props"]["firstname"] + c["props"]["lastname"] for c in contacts]
    assert any(not n.isascii() for n in names)
    assert {"PREVIOUSLY_BOUNCED", "PREVIOUSLY_UNSUBSCRIBED_PORTAL"} <= drops
    assert filtered > 0


def test_stats_count_what_the_store_holds(small_portal: Path) -> None:
    stats = portal_stats(small_portal)
    con = _con(small_portal)
    try:
        live = con.execute("select count(*) from objects where object_type = 'contacts' "
                           "and archived = 0").fetchone()[0]
        events = con.execute("select count(*) from email_events").fetchone()[0]
    finally:
        con.close()
    assert stats["objects"]["contacts"]["live"] == live
    assert stats["objects"]["contacts"]["archived"] > 0
    assert stats["email_events"]["total"] == events == sum(stats["email_events"]["by_type"]
                                                           .values())
    assert stats["campaigns"] == 20
    assert stats["merged_ids"]["contacts"] > 0
    pairs = stats["associations"]
    assert pairs["contacts_to_companies"] == pairs["companies_to_contacts"] > 0
    assert pairs["deals_to_contacts"] == pairs["contacts_to_deals"] > 0
    assert stats["association_types"]["contacts_to_companies"]["1"] > 0
    assert 900 <= live <= 1000
    assert 10_000 <= events <= 100_000


def test_custom_properties_exist_and_have_values(tmp_path: Path) -> None:
    path = tmp_path / "wide.sqlite"
    generate(path, preset="small", seed=3, anchor=ANCHOR, custom_properties=1000)
    con = _con(path)
    try:
        names = {n for (n,) in con.execute("select name from properties "
                                           "where object_type = 'contacts' "
                                           "and name like 'custom_prop_%'")}
        props = [json.loads(p) for (p,) in con.execute(
            "select props from objects where object_type = 'contacts' limit 50")]
    finally:
        con.close()
    assert len(names) == 1000
    assert "custom_prop_0001" in names
    assert "custom_prop_1000" in names
    assert all(any(k.startswith("custom_prop_") for k in p) for p in props)
    assert_invariants(path)


# --------------------------------------------------------------------------------- advance
def _contact_modified(path: Path) -> dict[int, int]:
    con = _con(path)
    try:
        return {i: parse_iso_ms(json.loads(p)["lastmodifieddate"]) for i, p in con.execute(
            "select id, props from objects where object_type = 'contacts'")}
    finally:
        con.close()


def test_advance_adds_activity_and_moves_the_clock(portal_copy: Path) -> None:
    con = _con(portal_copy)
    before_now = store.portal_now_ms(con)
    before_offset = int(store.get_meta(con, "clock_offset_ms") or 0)
    before_events = con.execute("select count(*) from email_events").fetchone()[0]
    before_campaigns = con.execute("select count(*) from email_campaigns").fetchone()[0]
    con.close()
    modified_before = _contact_modified(portal_copy)

    summary = advance(portal_copy, days=3, change_rate=0.02)

    con = _con(portal_copy)
    try:
        offset = int(store.get_meta(con, "clock_offset_ms") or 0)
        assert offset - before_offset == 3 * DAY_MS
        assert store.get_meta(con, "advanced_days") == "3"
        events = con.execute("select count(*), min(created) from email_events "
                             "where seq > ?", (before_events,)).fetchone()
        campaigns = con.execute("select count(*) from email_campaigns").fetchone()[0]
    finally:
        con.close()
    assert events[0] > 0
    assert events[0] == sum(summary["events"].values())
    assert events[1] > before_now
    assert campaigns - before_campaigns == summary["campaigns_created"] >= 1
    modified = _contact_modified(portal_copy)
    edited = {i for i, t in modified.items()
              if t > before_now and modified_before.get(i, 0) <= before_now}
    # Property edits hit about change_rate of the contacts per day; email activity and new
    # contacts move lastmodifieddate too, exactly as in HubSpot.
    live = len(modified_before)
    assert summary["contacts"]["modified"] == pytest.approx(0.02 * 3 * live, rel=0.35)
    assert len(edited) >= summary["contacts"]["modified"]
    assert summary["contacts"]["created"] > 0
    assert summary["deals"]["created"] > 0
    assert_invariants(portal_copy)


def test_advance_is_deterministic_given_the_days_already_advanced(tmp_path: Path,
                                                                   small_portal: Path) -> None:
    summaries = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.sqlite"
        path.write_bytes(small_portal.read_bytes())
        summaries.append(advance(path, days=1, change_rate=0.01))
    assert summaries[0]["events"] == summaries[1]["events"]
    assert summaries[0]["contacts"] == summaries[1]["contacts"]


def test_advance_while_the_server_serves_the_same_store(server) -> None:
    """The server keeps answering during an advance, and then serves the new events."""
    headers = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.base_url}/email/public/v1/events"
    probe = requests.get(url, headers=headers, params={"limit": 1}, timeout=30)
    if probe.status_code == 404:
        pytest.skip("email events endpoint not served yet")
    con = _con(server.store)
    start = store.portal_now_ms(con)
    con.close()
    failures: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            r = requests.get(url, headers=headers, params={"limit": 5}, timeout=60)
            if r.status_code != 200:
                failures.append(r.status_code)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        summary = advance(server.store, days=2, change_rate=0.01)
    finally:
        done.set()
        poller.join()
    assert not failures
    r = requests.get(url, headers=headers, timeout=30,
                     params={"startTimestamp": start + 1, "limit": 1000})
    assert r.status_code == 200
    assert r.json()["events"]
    assert sum(summary["events"].values()) > 0


def test_a_day_starting_late_still_has_events(tmp_path: Path, small_portal: Path) -> None:
    """A simulated day from 09:04 on a Sunday to 09:04 on Monday (a bench run late in the real
    day): a campaign whose working hours fell past the day's end went out at its last
    millisecond, and the day had no events at all."""
    path = tmp_path / "late.sqlite"
    path.write_bytes(small_portal.read_bytes())
    target = 1_793_523_866_627  # 2026-11-01T09:04:26.627Z, a Sunday
    con = sqlite3.connect(path)
    with con:
        store.set_meta(con, "clock_offset_ms", target - store.real_now_ms())
    con.close()
    summaries = [advance(path, days=1) for _ in range(3)]
    assert all(s["campaigns_created"] >= 1 for s in summaries)
    assert all(sum(s["events"].values()) > 0 for s in summaries), summaries
