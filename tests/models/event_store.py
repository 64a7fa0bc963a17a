"""Campaign metrics counted straight from a sandbox portal's SQLite store, without dbt.

An independent implementation of the definitions in models/marts/email/_email__docs.md, written
in Python over the store's own tables (`email_events`, `objects`, `associations`, `pipelines`,
`merged_ids`), so a test can compare every `campaign_performance` metric with it. It shares no
code with the dbt models: hard bounce categories come from the generator's vocabulary, won
stages from the pipelines' metadata, contacts and deals from the portal's objects.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sandbox.portal.vocab import HARD_BOUNCE_CATEGORIES

DAY_MS = 86_400_000
RATES = {  # rate → (numerator, denominator)
    "delivery_rate": ("delivered", "sends"),
    "bounce_rate": ("bounces", "sends"),
    "open_rate": ("unique_opens", "delivered"),
    "click_rate": ("unique_clicks", "delivered"),
    "click_to_open_rate": ("unique_clicks", "unique_opens"),
    "unsubscribe_rate": ("unsubscribes", "delivered"),
    "spam_report_rate": ("spam_reports", "delivered"),
}


@dataclass
class Message:
    """One SENT event and what its linked events say."""

    campaign_id: str
    recipient: str
    types: set[str] = field(default_factory=set)
    hard_bounce: bool = False
    opens: int = 0
    clicks: list[int] = field(default_factory=list)  # click times, ms
    unsubscribed: bool = False

    @property
    def delivered(self) -> bool:
        return "DELIVERED" in self.types

    @property
    def opened(self) -> bool:
        return self.delivered and (self.opens > 0 or bool(self.clicks))

    @property
    def clicked(self) -> bool:
        return self.delivered and bool(self.clicks)


@contextmanager
def _readonly(path: Path) -> Iterator[sqlite3.Connection]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        yield con
    finally:
        con.close()


def _normal(email: str | None) -> str | None:
    return (email or "").strip().lower() or None


def _messages(con: sqlite3.Connection) -> dict[str, Message]:
    """Every message by its SENT event id, with the (non-bot) events pointing at it."""
    rows = con.execute("select id, type, recipient, email_campaign_id, sent_by_id, "
                       "filtered_event, created, extra from email_events order by seq").fetchall()
    seen: set[str] = set()
    unique = []
    for row in rows:  # events are identified by id
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    messages = {r[0]: Message(str(r[3]), _normal(r[2]) or "")
                for r in unique if r[1] == "SENT"}
    for _, kind, _, _, sent_by, filtered, created, extra in unique:
        message = messages.get(sent_by)
        if message is None or filtered:
            continue
        message.types.add(kind)
        details = json.loads(extra) if extra else {}
        if kind == "BOUNCE" and details.get("category") in HARD_BOUNCE_CATEGORIES:
            message.hard_bounce = True
        elif kind == "OPEN":
            message.opens += 1
        elif kind == "CLICK":
            message.clicks.append(created)
        elif kind == "STATUSCHANGE" and details.get("portalSubscriptionStatus") == "UNSUBSCRIBED":
            message.unsubscribed = True
    return messages


def email_owners(con: sqlite3.Connection) -> dict[str, int]:
    """Normalised address → the live contact owning it (oldest, then lowest id)."""
    merged_away = {r[0] for r in con.execute(
        "select old_id from merged_ids where object_type = 'contacts'")}
    owners: dict[str, tuple[int, int]] = {}
    for contact_id, created, props in con.execute(
            "select id, created_ms, props from objects where object_type = 'contacts' "
            "and archived = 0"):
        email = _normal(json.loads(props).get("email"))
        if email is None or contact_id in merged_away:
            continue
        if email not in owners or (created, contact_id) < owners[email]:
            owners[email] = (created, contact_id)
    return {email: contact_id for email, (_, contact_id) in owners.items()}


def won_deals_by_contact(con: sqlite3.Connection) -> dict[int, list[tuple[int, int, float]]]:
    """Live contact id → its live won deals as (deal id, close ms, amount)."""
    won_stages = set()
    for (definition,) in con.execute("select definition from pipelines "
                                     "where object_type = 'deals'"):
        for stage in json.loads(definition)["stages"]:
            meta = stage["metadata"]
            if meta["isClosed"] == "true" and float(meta["probability"]) >= 1:
                won_stages.add(stage["id"])
    deals: dict[int, tuple[int, float]] = {}
    for deal_id, props in con.execute("select id, props from objects "
                                      "where object_type = 'deals' and archived = 0"):
        p = json.loads(props)
        if p.get("dealstage") in won_stages and p.get("closedate"):
            closed = datetime.fromisoformat(p["closedate"].replace("Z", "+00:00"))
            deals[deal_id] = (int(closed.timestamp() * 1000), float(p.get("amount") or 0))
    survivor = dict(con.execute("select old_id, new_id from merged_ids "
                                "where object_type = 'contacts'").fetchall())
    by_contact: dict[int, set[tuple[int, int, float]]] = defaultdict(set)
    for contact_id, deal_id in con.execute(
            "select a.from_id, a.to_id from associations a join objects o "
            "on o.object_type = 'contacts' and o.id = a.from_id and o.archived = 0 "
            "where a.from_type = 'contacts' and a.to_type = 'deals'"):
        if deal_id in deals:
            by_contact[survivor.get(contact_id, contact_id)].add((deal_id, *deals[deal_id]))
    return {c: sorted(d) for c, d in by_contact.items()}


def converts(click: int, closed: int, window: int) -> bool:
    """A won deal closed within the window after a click (ms). A close at midnight UTC is a
    bare date: a click later that same day does not come after it."""
    same_date = closed % DAY_MS == 0 and click // DAY_MS == closed // DAY_MS
    return (click <= closed or same_date) and closed <= click + window


def campaign_metrics(store: Path, attribution_window_days: int = 30) -> dict[str, dict]:
    """campaign id → every count and rate of campaign_performance, for every campaign."""
    with _readonly(store) as con:
        messages = _messages(con)
        owners = email_owners(con)
        won = won_deals_by_contact(con)
        campaign_ids = [str(r[0]) for r in con.execute("select id from email_campaigns")]
    by_campaign: dict[str, list[Message]] = {c: [] for c in campaign_ids}
    for message in messages.values():
        by_campaign.setdefault(message.campaign_id, []).append(message)
    window = attribution_window_days * DAY_MS
    out = {}
    for campaign_id, sent in by_campaign.items():
        m = _counts(sent)
        converted: dict[int, float] = {}
        for message in sent:
            contact = owners.get(message.recipient)
            if not message.clicked or contact is None:
                continue
            for deal_id, closed, amount in won.get(contact, []):
                if any(converts(click, closed, window) for click in message.clicks):
                    converted[deal_id] = amount
        m["conversions"] = len(converted)
        m["influenced_revenue"] = round(sum(converted.values()), 2)
        for rate, (numerator, denominator) in RATES.items():
            m[rate] = m[numerator] / m[denominator] if m[denominator] else None
        out[campaign_id] = m
    return out


def _counts(sent: list[Message]) -> dict[str, float]:
    bounced = [m for m in sent if "BOUNCE" in m.types]
    delivered = [m for m in sent if m.delivered]
    return {
        "sends": len(sent),
        "recipients": len({m.recipient for m in sent}),
        "delivered": len(delivered),
        "bounces": len(bounced),
        "hard_bounces": sum(m.hard_bounce for m in bounced),
        "soft_bounces": sum(not m.hard_bounce for m in bounced),
        "drops": sum("DROPPED" in m.types for m in sent),
        "unique_opens": sum(m.opened for m in sent),
        "unique_clicks": sum(m.clicked for m in sent),
        "unique_open_recipients": len({m.recipient for m in sent if m.opened}),
        "unique_click_recipients": len({m.recipient for m in sent if m.clicked}),
        "total_opens": sum(m.opens for m in sent),
        "total_clicks": sum(len(m.clicks) for m in sent),
        "unsubscribes": sum(m.unsubscribed for m in delivered),
        "spam_reports": sum("SPAMREPORT" in m.types for m in delivered),
    }


def assert_metrics_match(rows: list[dict[str, Any]], expected: dict[str, dict[str, Any]]
                         ) -> None:
    """Every metric of every campaign in `rows` (campaign_performance) equals `expected`."""
    actual = {row["campaign_id"]: row for row in rows}
    assert sorted(actual) == sorted(expected)
    assert sum(m["conversions"] for m in expected.values()) > 0, "no conversion to compare"
    for campaign_id, metrics in expected.items():
        row = actual[campaign_id]
        for name, value in metrics.items():
            got = None if row[name] is None else float(row[name])
            assert got == (None if value is None else pytest.approx(value)), (
                f"campaign {campaign_id}: {name} is {row[name]}, the event store says {value}")
