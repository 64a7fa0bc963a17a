"""`advance`: simulate N more days of portal activity, safely beside a running server.

Each simulated day is one short write transaction that adds the day's activity — new contacts,
property edits (about `change_rate` of live contacts), deals created, moved and closed, a few
archives, the day's campaigns and their events — with timestamps in (portal now, now + 1 day],
and moves the portal clock forward by that day in the same commit. Readers therefore never see
records dated after the portal's "now", and the write lock is held for well under a second at
demo scale.

Records changed get `updated_ms` and their last-modified property moved to the activity time,
as HubSpot does. Randomness derives from (seed, days already advanced): advancing two copies of
a portal gives the same activity.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sandbox import store
from sandbox.portal import crm, schema, vocab
from sandbox.portal.clock import iso
from sandbox.portal.deals import SALES, Deal, deal_props, stage_props
from sandbox.portal.emails import (
    MailState,
    cohorts,
    dormant_since,
    insert_campaign,
    location_json,
    plan_campaigns,
    send_campaign,
    stray_addresses,
)
from sandbox.portal.generate import association_rows
from sandbox.portal.presets import Preset, get_preset
from sandbox.portal.rand import DAY_MS, NEVER, stream
from sandbox.portal.schema import LIFECYCLE_STAGES, STAGES
from sandbox.store import LAST_MODIFIED, dumps, loads

# Per simulated day.
P_DEAL_MOVES, P_DEAL_CLOSES, P_DEAL_WON = 0.06, 0.03, 0.45
P_ARCHIVE_CONTACT, P_ARCHIVE_DEAL = 0.0003, 0.0005
EDITABLE_STAGES = LIFECYCLE_STAGES[:4]  # edits climb up to SQL; deals drive the rest
COUNTRY_INDEX = {c.name: i for i, c in enumerate(vocab.COUNTRIES)}
# What a campaign needs to know about each contact (see MailState.load_props).
MAIL_FIELDS = ("hs_email_optout", "hs_email_hard_bounce_reason_enum", "hs_email_last_send_date",
               "hs_email_last_open_date", "hs_email_last_click_date", "hs_email_delivered",
               "hs_email_open", "hs_email_click", "hs_email_bounce", "country", "state", "city")


@dataclass
class Summary:
    contacts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("created", "modified", "archived", "email_stats_updated"), 0))
    deals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("created", "moved", "won", "lost", "archived"), 0))
    events: dict[str, int] = field(default_factory=dict)
    campaigns_created: int = 0
    edited: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Portal:
    seed: int
    spec: Preset
    anchor_ms: int
    share: float
    strays: list[str]


def advance(path: Path | str, *, days: int, change_rate: float = 0.01) -> dict:
    """Add `days` simulated days of activity to the portal at `path`; return a summary."""
    if days < 1:
        raise ValueError("days must be at least 1")
    if not Path(path).exists():
        raise FileNotFoundError(f"no sandbox portal at {path}: run `hubseg sandbox generate`")
    con = store.connect(path)
    try:
        portal = _portal(con)
        done = int(store.get_meta(con, "advanced_days", "0") or 0)
        started = store.portal_now_ms(con)
        campaigns_per_day = _campaign_days(portal, done, days)
        summary = Summary()
        for d in range(days):
            with store.transaction(con):
                day = _Day(con, portal, stream(portal.seed, "advance", done + d), summary)
                day.run(change_rate, campaigns_per_day[d], done + d)
                store.set_meta(con, "clock_offset_ms",
                               int(store.get_meta(con, "clock_offset_ms", "0") or 0) + DAY_MS)
                store.set_meta(con, "advanced_days", done + d + 1)
        ended = store.portal_now_ms(con)
    finally:
        con.close()
    contacts = {**summary.contacts, "modified": len(summary.edited)}
    return {"days": days, "from": iso(started), "to": iso(ended), "contacts": contacts,
            "deals": summary.deals, "campaigns_created": summary.campaigns_created,
            "events": dict(sorted(summary.events.items()))}


def _portal(con: sqlite3.Connection) -> Portal:
    seed = int(store.get_meta(con, "seed") or 0)
    spec = get_preset(store.get_meta(con, "preset") or "small")
    return Portal(seed=seed, spec=spec, anchor_ms=int(store.get_meta(con, "anchor_ms") or 0),
                  share=float(store.get_meta(con, "audience_share", "0.3") or 0.3),
                  strays=stray_addresses(seed, spec))


def _campaign_days(portal: Portal, done: int, days: int) -> list[int]:
    """Campaigns per simulated day; at least one per call so every advance adds events."""
    rng = stream(portal.seed, "advance-plan", done, days)
    counts = rng.poisson(portal.spec.campaigns_per_day, days)
    if counts.sum() == 0:
        counts[-1] = 1
    return [int(c) for c in counts]


SEND_MARGIN_MS = 6 * 3_600_000  # campaigns of a simulated day go out 6 h before its end


class _Day:
    """One simulated day inside one write transaction."""

    def __init__(self, con: sqlite3.Connection, portal: Portal, rng: np.random.Generator,
                 summary: Summary) -> None:
        self.con, self.portal, self.rng, self.summary = con, portal, rng, summary
        self.start = store.portal_now_ms(con)
        self.end = self.start + DAY_MS

    def at(self, n: int | None = None) -> np.ndarray:
        """Random moments of the day, strictly after the portal's current time."""
        return self.start + 1 + self.rng.integers(0, DAY_MS - 1, n if n is not None else 1)

    def run(self, change_rate: float, campaigns: int, day_number: int) -> None:
        self.new_contacts()
        self.edit_contacts(change_rate)
        self.new_deals()
        self.move_deals()
        self.archive()
        self.campaigns(campaigns, day_number)

    # -- reading and writing records ------------------------------------------------------
    def ids(self, object_type: str, where: str = "", args: tuple = ()) -> np.ndarray:
        sql = (f"select id from objects where object_type = ? and archived = 0 {where} "
               "order by id")
        return np.array([r[0] for r in self.con.execute(sql, (object_type, *args))],
                        dtype=np.int64)

    def props(self, object_type: str, oid: int) -> dict:
        row = self.con.execute("select props from objects where object_type = ? and id = ?",
                               (object_type, oid)).fetchone()
        return loads(row[0])

    def save(self, object_type: str, oid: int, props: dict, at: int) -> None:
        """Store new property values; last-modified moves to the latest change."""
        (updated,) = self.con.execute("select updated_ms from objects where object_type = ? "
                                      "and id = ?", (object_type, oid)).fetchone()
        updated = max(int(updated), int(at))
        props[LAST_MODIFIED[object_type]] = iso(updated)
        self.con.execute("update objects set props = ?, updated_ms = ? where object_type = ? "
                         "and id = ?", (dumps(props), updated, object_type, oid))

    def after(self, object_type: str, oid: int, at: int) -> int:
        """`at`, or just after the record's last change: a record's story stays in order."""
        (updated,) = self.con.execute("select updated_ms from objects where object_type = ? "
                                      "and id = ?", (object_type, oid)).fetchone()
        return min(self.end, max(int(at), int(updated) + 1))

    def history(self, object_type: str, oid: int, name: str, value: str, at: int,
                source: str = "CRM_UI") -> None:
        self.con.execute("insert into history values (?,?,?,?,?,?)",
                         (object_type, oid, name, value, int(at), source))

    def next_id(self, object_type: str) -> int:
        (top,) = self.con.execute(
            "select max(m) from (select max(id) m from objects where object_type = ? "
            "union all select max(old_id) from merged_ids where object_type = ?)",
            (object_type, object_type)).fetchone()
        return int(top or 0) + int(self.rng.integers(1, 40))

    def insert(self, object_type: str, oid: int, created: int, props: dict,
               email_key: str | None = None) -> None:
        props.update({"createdate": iso(created), "hs_object_id": str(oid),
                      LAST_MODIFIED[object_type]: iso(created)})
        self.con.execute("insert into objects values (?,?,?,?,0,null,?,?)",
                         (object_type, oid, created, created, email_key, dumps(props)))

    def associate(self, *args: object) -> None:
        self.con.executemany("insert or ignore into associations values (?,?,?,?,?,?,?)",
                             association_rows(*args))  # type: ignore[arg-type]

    # -- contacts -------------------------------------------------------------------------
    def new_contacts(self) -> None:
        n = int(self.rng.poisson(self.portal.spec.new_contacts_per_day))
        companies = self.ids("companies")
        for created in np.sort(self.at(n)):
            company = int(self.rng.choice(companies)) if len(companies) and \
                self.rng.random() < 0.7 else None
            oid = self.next_id("contacts")
            props, email_key = self.new_person(oid, company)
            stage = props["lifecyclestage"]
            self.insert("contacts", oid, int(created), props, email_key)
            self.history("contacts", oid, "lifecyclestage", stage, int(created), "FORM")
            if company is not None:
                self.associate("contacts", oid, "companies", company, (1, 279), (2, 280))
            self.summary.contacts["created"] += 1

    def new_person(self, oid: int, company: int | None) -> tuple[dict, str]:
        """Name, place and a fresh address for someone who just filled in a form."""
        rng = self.rng
        co = self.props("companies", company) if company is not None else {}
        country = COUNTRY_INDEX.get(co.get("country", ""),
                                    int(rng.choice(len(vocab.COUNTRIES),
                                                   p=np.array(crm.COUNTRY_WEIGHTS)
                                                   / sum(crm.COUNTRY_WEIGHTS))))
        place = crm.PLACE_OF[(country, int(rng.integers(len(vocab.COUNTRIES[country].regions))))]
        first, last = (x[0] for x in crm.names_for(rng, np.array([place])))
        domain = co.get("domain") if co and rng.random() < 0.7 else \
            crm.consumer_domain(place, rng.random())
        local = crm.local_part(first, last, int(rng.integers(5)), oid)
        email = f"{local}@{domain}"
        while self.address_known(email.lower()):
            email = f"{local}{int(rng.integers(2, 999))}@{domain}"
        props = {"email": email, "firstname": first, "lastname": last,
                 "lifecyclestage": "subscriber" if rng.random() < 0.7 else "lead",
                 "country": vocab.COUNTRIES[country].name,
                 "city": crm.cities_of(rng, np.array([place]))[0], "hs_email_optout": "false",
                 "hs_analytics_source": vocab.ANALYTICS_SOURCES[
                     int(rng.integers(len(vocab.ANALYTICS_SOURCES)))]}
        if co:
            props |= {"company": co.get("name", ""), "associatedcompanyid": str(company)}
        return props, email.lower()

    def address_known(self, key: str) -> bool:
        """Taken by a contact, or mailed before (a merged-away record or a list import)."""
        return bool(self.con.execute(
            "select 1 from objects where object_type = 'contacts' and email_key = ? union all "
            "select 1 from email_events where recipient = ? limit 1", (key, key)).fetchone())

    def edit_contacts(self, change_rate: float) -> None:
        """Lifecycle steps (up to SQL), job changes and new interests."""
        live = self.ids("contacts")
        k = int(self.rng.binomial(len(live), min(1.0, change_rate)))
        for oid, when in zip(self.rng.choice(live, size=k, replace=False), self.at(k),
                             strict=True):
            oid = int(oid)
            when = self.after("contacts", oid, int(when))
            props = self.props("contacts", oid)
            stage = props.get("lifecyclestage")
            kind = self.rng.random()
            if kind < 0.4 and stage in EDITABLE_STAGES[:-1]:
                step = EDITABLE_STAGES[EDITABLE_STAGES.index(stage) + 1]
                props["lifecyclestage"] = step
                self.history("contacts", oid, "lifecyclestage", step, when,
                             "AUTOMATION_PLATFORM")
            elif kind < 0.7:
                props["jobtitle"] = vocab.JOB_TITLES[int(self.rng.integers(
                    len(vocab.JOB_TITLES)))]
                self.history("contacts", oid, "jobtitle", props["jobtitle"], when)
            else:
                chosen = self.rng.random(len(vocab.INTERESTS)) < 0.25
                props["interests"] = schema.join_multi(
                    [v for v, c in zip(vocab.INTERESTS, chosen, strict=True) if c]) or "ai"
                self.history("contacts", oid, "interests", props["interests"], when)
            self.save("contacts", oid, props, when)
            self.summary.edited.add(oid)

    def set_stage(self, oid: int, stage: str, at: int) -> None:
        """Move a contact up the funnel (never down), recording the step."""
        props = self.props("contacts", oid)
        current = props.get("lifecyclestage", "subscriber")
        if current != "other" and LIFECYCLE_STAGES.index(current) >= \
                LIFECYCLE_STAGES.index(stage):
            return
        props["lifecyclestage"] = stage
        at = self.after("contacts", oid, at)
        self.history("contacts", oid, "lifecyclestage", stage, at, "AUTOMATION_PLATFORM")
        self.save("contacts", oid, props, at)

    # -- deals ----------------------------------------------------------------------------
    def new_deals(self) -> None:
        n = int(self.rng.poisson(self.portal.spec.new_deals_per_day))
        pool = self.ids("contacts", "and json_extract(props, '$.lifecyclestage') in (?, ?)",
                        ("marketingqualifiedlead", "salesqualifiedlead"))
        if not len(pool):
            return
        for created in np.sort(self.at(n)):
            contact, created = int(self.rng.choice(pool)), int(created)
            person = self.props("contacts", contact)
            company = person.get("associatedcompanyid")
            label = person.get("company") or f"{person.get('firstname')} {person.get('lastname')}"
            amount = None if self.rng.random() < 0.06 else \
                round(float(self.rng.lognormal(np.log(9_000), 0.9)), 2)
            deal = Deal(created=created, pipeline=SALES,
                        path=[(SALES.stages[0].id, created)], close=None, amount=amount,
                        dealtype="newbusiness", name=f"{label} – New deal",
                        id=self.next_id("deals"))
            self.insert("deals", deal.id, created, deal_props(deal))
            self.history("deals", deal.id, "dealstage", deal.stage, created)
            self.associate("deals", deal.id, "contacts", contact, (3,), (4,))
            if company and self.con.execute("select 1 from objects where object_type = "
                                            "'companies' and id = ? and archived = 0",
                                            (int(company),)).fetchone():
                self.associate("deals", deal.id, "companies", int(company), (5, 341), (6, 342))
            self.set_stage(contact, "opportunity", created)
            self.summary.deals["created"] += 1

    def move_deals(self) -> None:
        """Open deals advance a stage, or close: won deals make their contacts customers."""
        open_stages = tuple(s for s, (_, stage) in STAGES.items() if not stage.closed)
        marks = ",".join("?" * len(open_stages))
        deals = self.ids("deals", f"and json_extract(props, '$.dealstage') in ({marks})",
                         open_stages)
        roll = self.rng.random(len(deals))
        won = self.rng.random(len(deals)) < P_DEAL_WON
        for oid, r, is_won, when in zip(deals, roll, won, self.at(len(deals)), strict=True):
            if r >= P_DEAL_MOVES + P_DEAL_CLOSES:
                continue
            oid = int(oid)
            when = self.after("deals", oid, int(when))
            props = self.props("deals", oid)
            pipeline = STAGES[props["dealstage"]][0]
            if r < P_DEAL_CLOSES:
                stage = pipeline.won if is_won else pipeline.lost
                props["closedate"] = iso(when)
                self.summary.deals["won" if is_won else "lost"] += 1
            else:
                opens = [s.id for s in pipeline.open_stages]
                stage = opens[min(len(opens) - 1, opens.index(props["dealstage"]) + 1)]
                self.summary.deals["moved"] += 1
            props.update(stage_props(stage))
            self.history("deals", oid, "dealstage", stage, when)
            self.save("deals", oid, props, when)
            if stage == pipeline.won:
                for (contact,) in self.con.execute(
                        "select to_id from associations where from_type = 'deals' and "
                        "from_id = ? and to_type = 'contacts' and type_id = 3", (oid,)
                        ).fetchall():
                    self.set_stage(int(contact), "customer", when)

    def archive(self) -> None:
        """A few low-funnel contacts and unfinished deals are deleted (archived)."""
        contacts = self.ids("contacts", "and json_extract(props, '$.lifecyclestage') in "
                                        "('subscriber', 'lead', 'other')")
        deals = self.ids("deals", "and json_extract(props, '$.hs_is_closed_won') = 'false'")
        for object_type, pool, p in (("contacts", contacts, P_ARCHIVE_CONTACT),
                                     ("deals", deals, P_ARCHIVE_DEAL)):
            k = int(self.rng.binomial(len(pool), p))
            for oid, when in zip(self.rng.choice(pool, size=k, replace=False), self.at(k),
                                 strict=True):
                self.archive_one(object_type, int(oid), int(when))

    def archive_one(self, object_type: str, oid: int, at: int) -> None:
        at = self.after(object_type, oid, at)
        self.save(object_type, oid, self.props(object_type, oid), at)
        self.con.execute("update objects set archived = 1, archived_ms = ? "
                         "where object_type = ? and id = ?", (at, object_type, oid))
        # Both directions go; the reverse rows are found through the forward ones, because
        # only (from_type, from_id, …) is indexed.
        partners = self.con.execute("select distinct to_type, to_id from associations "
                                    "where from_type = ? and from_id = ?",
                                    (object_type, oid)).fetchall()
        self.con.executemany("delete from associations where from_type = ? and from_id = ? "
                             "and to_type = ? and to_id = ?",
                             [(t, i, object_type, oid) for t, i in partners])
        self.con.execute("delete from associations where from_type = ? and from_id = ?",
                         (object_type, oid))
        bucket = self.summary.contacts if object_type == "contacts" else self.summary.deals
        bucket["archived"] += 1

    # -- email ----------------------------------------------------------------------------
    def campaigns(self, count: int, day_number: int) -> None:
        (top,) = self.con.execute("select coalesce(max(id), 21000000) "
                                  "from email_campaigns").fetchone()
        # Not in the day's last hours: a send pushed to the window's end (its working hours
        # fall after it) would leave its events past the day, and the day without any.
        planned = plan_campaigns(stream(self.portal.seed, "advance-campaigns", day_number),
                                 count, self.start, self.end, int(top),
                                 latest_ms=self.end - SEND_MARGIN_MS)
        for k, campaign in enumerate(planned):
            state = self.mail_state()
            result = send_campaign(stream(self.portal.seed, "advance-send", day_number, k),
                                   campaign, state, share=self.portal.share,
                                   horizon_ms=self.end, strays=self.portal.strays)
            insert_campaign(self.con, campaign, result)
            for i in np.flatnonzero(state.touched > 0).tolist():
                oid = int(state.ids[i])
                merged = self.props("contacts", oid) | state.props(i, has_email=True)
                self.save("contacts", oid, merged, int(state.touched[i]))
                self.summary.contacts["email_stats_updated"] += 1
            self.summary.campaigns_created += 1
            for row in result.rows:
                self.summary.events[row[2]] = self.summary.events.get(row[2], 0) + 1

    def mail_state(self) -> MailState:
        """Live contacts with an address, one per normalised address (the oldest record).

        Only the properties the simulation needs are read (one JSON parse per row, in SQLite),
        so a million contacts fit in a few hundred MB. Suppression belongs to the address, not
        the record: an unsubscribe or hard bounce on an archived or duplicate record with the
        same address still stops the mail.
        """
        paths = ", ".join(f"'$.{name}'" for name in MAIL_FIELDS)
        rows = self.con.execute(f"select id, created_ms, email_key, archived, "
                                f"json_extract(props, {paths}) from objects "
                                "where object_type = 'contacts' and email_key is not null "
                                "order by id")
        seen: set[str] = set()
        suppressed: dict[str, dict] = {}
        ids, created, address, location, facts = [], [], [], [], []
        for oid, created_ms, key, archived, values in rows:
            p = dict(zip(MAIL_FIELDS, json.loads(values), strict=True))
            if p["hs_email_optout"] == "true" or p["hs_email_hard_bounce_reason_enum"]:
                suppressed.setdefault(key, p)
            if archived:
                continue
            ids.append(oid)
            created.append(created_ms)
            address.append(None if key in seen else key)
            seen.add(key)
            location.append(location_json(p["country"], p["state"], p["city"]))
            facts.append(p)
        id_arr = np.array(ids, dtype=np.int64)
        seed, anchor = self.portal.seed, self.portal.anchor_ms
        state = MailState(ids=id_arr, address=address, created=np.array(created, dtype=np.int64),
                          gone=np.full(len(ids), NEVER, dtype=np.int64),
                          cohort=cohorts(seed, id_arr),
                          dormant_since=dormant_since(seed, id_arr, anchor), location=location)
        for i, p in enumerate(facts):
            state.load_props(i, p)
            key = address[i]
            if key in suppressed and suppressed[key] is not p:
                state.suppress_like(i, suppressed[key])
        return state
