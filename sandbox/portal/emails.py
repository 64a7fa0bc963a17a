"""Email campaigns and their events, simulated per recipient; shared by generate and advance.

A campaign goes to a share of the contacts that can receive it at send time. Each message runs
HubSpot's delivery funnel: SENT → DROPPED (suppressed or invalid) | PROCESSED → [DEFERRED…] →
DELIVERED | BOUNCE, then OPENs (some are bot opens, `filteredEvent`), CLICKs on the campaign's
links, and rarely PRINT, FORWARD, SPAMREPORT or an unsubscribe (STATUSCHANGE). How likely each
step is depends on the recipient's engagement cohort, which is a pure function of
(seed, contact id) so `advance` keeps treating people the same way.

Every event of a message carries `sentBy` = its SENT event; the SENT event points at itself
(Fivetran's send key, peers.md §2.1). Events after `horizon_ms` are not written: the future has
not happened yet. `MailState` carries what later campaigns need to know (who unsubscribed or
hard-bounced, and when) and what the contacts' `hs_email_*` properties show.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat

import numpy as np

from sandbox.portal import vocab
from sandbox.portal.clock import iso, parse_iso_ms
from sandbox.portal.presets import Preset
from sandbox.portal.rand import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    NEVER,
    pick,
    stream,
    unit_hash,
    uuids,
)
from sandbox.store import dumps

APP_ID, APP_NAME = 113, "Batch"
CAMPAIGN_TYPE, CAMPAIGN_SUB_TYPE = "BATCH_EMAIL", "batch"
COUNTER_KEYS = ("bounce", "click", "deferred", "delivered", "dropped", "forward", "mta_dropped",
                "open", "print", "processed", "reply", "sent", "spamreport", "statuschange",
                "suppressed", "unsubscribed")
SENDER = "news@example.com"
EVENT_COLUMNS = ("id, created, type, recipient, email_campaign_id, email_campaign_group_id, "
                 "app_id, app_name, sent_by_id, sent_by_created, filtered_event, extra")
INSERT_EVENTS = f"insert into email_events ({EVENT_COLUMNS}) values (?,?,?,?,?,?,?,?,?,?,?,?)"
INSERT_CAMPAIGN = "insert into email_campaigns values (?,?,?,?,?,?,?,?,?,?,?,?)"

# Engagement cohorts: shares, and per-cohort chances per delivered message.
COHORTS = ("highly_engaged", "engaged", "occasional", "dormant", "never_opens")
COHORT_SHARES = np.array([0.10, 0.25, 0.30, 0.15, 0.20])
P_OPEN = np.array([0.75, 0.45, 0.15, 0.40, 0.0])
P_CLICK = np.array([0.35, 0.20, 0.08, 0.12, 0.0])  # given a real open
REOPEN = np.array([0.35, 0.55, 0.75, 0.6, 1.0])  # geometric p of the open count: low = many
P_UNSUBSCRIBE = np.array([0.0008, 0.0015, 0.004, 0.005, 0.003])
P_HARD_BOUNCE = np.array([0.004, 0.005, 0.008, 0.01, 0.03])
P_SOFT_BOUNCE = 0.012
P_DEFERRED = 0.025
P_RANDOM_DROP = 0.003
P_BOT_OPEN = 0.12
P_BOT_CLICK = 0.02
P_SPAM = 0.0006
P_PRINT, P_FORWARD = 0.004, 0.008
P_STRAY = 0.015  # share of a send list that is no contact of the portal
KEEP_SUPPRESSED = 0.4  # share of suppressed people still on a list (then DROPPED)
OCCASIONAL, DORMANT, NEVER_OPENS = 2, 3, 4  # indices into COHORTS
STRANGER = OCCASIONAL  # strays behave like occasional readers


def cohorts(seed: int, ids: np.ndarray) -> np.ndarray:
    cum = np.cumsum(COHORT_SHARES)
    return np.searchsorted(cum, unit_hash(seed, ids, 1) * cum[-1], side="right").astype(np.int8)


def dormant_since(seed: int, ids: np.ndarray, anchor_ms: int) -> np.ndarray:
    """Dormant readers went silent 90–400 days before the anchor."""
    days = 90 + (unit_hash(seed, ids, 2) * 310).astype(np.int64)
    return anchor_ms - days * DAY_MS


@lru_cache(maxsize=4096)
def location_json(country: str | None, state: str | None, city: str | None) -> str:
    return compact({"country": (country or "").upper(), "state": (state or "").lower(),
                    "city": (city or "").lower()})


def compact(value: object) -> str:
    """JSON without spaces (the event `extra` column holds millions of these)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass
class MailState:
    """Per-contact email facts, indexed like the contact arrays of the caller."""

    ids: np.ndarray
    address: list[str | None]
    created: np.ndarray
    gone: np.ndarray
    cohort: np.ndarray
    dormant_since: np.ndarray
    location: list[str]
    unsub_ms: np.ndarray = field(init=False)
    hard_bounce_ms: np.ndarray = field(init=False)
    hard_bounce_reason: list[str | None] = field(init=False)
    last_send: np.ndarray = field(init=False)
    last_open: np.ndarray = field(init=False)
    last_click: np.ndarray = field(init=False)
    touched: np.ndarray = field(init=False)  # latest event that changed an hs_email_* property
    delivered: np.ndarray = field(init=False)
    opens: np.ndarray = field(init=False)
    clicks: np.ndarray = field(init=False)
    bounces: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.unsub_ms = np.full(n, NEVER, dtype=np.int64)
        self.hard_bounce_ms = np.full(n, NEVER, dtype=np.int64)
        self.hard_bounce_reason = [None] * n
        for name in ("last_send", "last_open", "last_click", "touched", "delivered", "opens",
                     "clicks", "bounces"):
            setattr(self, name, np.zeros(n, dtype=np.int64))
        self.mailable = np.array([a is not None for a in self.address], dtype=bool)

    def load_props(self, i: int, props: dict[str, str]) -> None:
        """Restore contact i's email facts from its stored properties (used by advance)."""
        if props.get("hs_email_optout") == "true":
            self.unsub_ms[i] = 0
        reason = props.get("hs_email_hard_bounce_reason_enum")
        if reason:
            self.hard_bounce_ms[i], self.hard_bounce_reason[i] = 0, reason
        self.last_send[i] = parse_iso_ms(props.get("hs_email_last_send_date"))
        self.last_open[i] = parse_iso_ms(props.get("hs_email_last_open_date"))
        self.last_click[i] = parse_iso_ms(props.get("hs_email_last_click_date"))
        for name, key in (("delivered", "hs_email_delivered"), ("opens", "hs_email_open"),
                          ("clicks", "hs_email_click"), ("bounces", "hs_email_bounce")):
            getattr(self, name)[i] = int(props.get(key) or 0)

    def suppress_like(self, i: int, props: dict[str, str]) -> None:
        """Carry another record's unsubscribe or hard bounce (same address) over to i."""
        if props.get("hs_email_optout") == "true":
            self.unsub_ms[i] = 0
        if props.get("hs_email_hard_bounce_reason_enum"):
            self.hard_bounce_ms[i] = 0

    def props(self, i: int, has_email: bool) -> dict[str, str]:
        """Contact i's hs_email_* properties, consistent with its events."""
        out: dict[str, str] = {}
        if has_email:
            out["hs_email_optout"] = "true" if self.unsub_ms[i] != NEVER else "false"
        for key, arr in (("hs_email_last_send_date", self.last_send),
                         ("hs_email_last_open_date", self.last_open),
                         ("hs_email_last_click_date", self.last_click)):
            if arr[i] > 0:
                out[key] = iso(int(arr[i]))
        if self.last_send[i] > 0 or self.bounces[i] > 0:
            out["hs_email_delivered"] = str(int(self.delivered[i]))
            out["hs_email_open"] = str(int(self.opens[i]))
            out["hs_email_click"] = str(int(self.clicks[i]))
            out["hs_email_bounce"] = str(int(self.bounces[i]))
        reason = self.hard_bounce_reason[i]
        if reason:
            out["hs_email_hard_bounce_reason_enum"] = reason
        return out


@dataclass(frozen=True)
class Campaign:
    id: int
    group_id: int
    content_id: int
    name: str
    subject: str
    topic: str
    sent_ms: int
    links: tuple[tuple[int, str], ...]  # (linkId, url)


def plan_campaigns(rng: np.random.Generator, n: int, start_ms: int, end_ms: int, first_id: int,
                   latest_ms: int | None = None) -> list[Campaign]:
    """n campaigns spread over (start, end], on weekday working hours, ids increasing; none
    sent after `latest_ms` when given (so their recipients have time to react)."""
    if n <= 0:
        return []
    span = (end_ms - start_ms) / n
    days = [start_ms + int((k + rng.uniform(0.1, 0.9)) * span) for k in range(n)]
    topics = list(vocab.TOPIC_SUBJECTS)
    out = []
    cid = first_id
    for t in days:
        day = t - t % DAY_MS
        weekday = (day // DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        if weekday >= 5 and day + (7 - weekday) * DAY_MS <= end_ms - DAY_MS:
            day += (7 - weekday) * DAY_MS
        last = end_ms - 1 if latest_ms is None else max(start_ms + 1, latest_ms)
        sent = min(last, max(start_ms + 1, day + int(rng.integers(8 * HOUR_MS, 17 * HOUR_MS))))
        cid += int(rng.integers(1, 5000))
        topic = topics[int(rng.integers(len(topics)))]
        subjects = vocab.TOPIC_SUBJECTS[topic]
        subject = subjects[int(rng.integers(len(subjects)))]
        kind = vocab.CAMPAIGN_KINDS[int(rng.integers(len(vocab.CAMPAIGN_KINDS)))]
        month = iso(sent)[:7]
        slugs = rng.choice(len(vocab.LINK_SLUGS), size=int(rng.integers(2, 6)), replace=False)
        links = tuple((cid * 10 + j, f"https://www.example.com/blog/{topic}/"
                                     f"{vocab.LINK_SLUGS[s]}?utm_campaign={cid}")
                      for j, s in enumerate(slugs))
        out.append(Campaign(id=cid, group_id=cid + 1_000_000_000,
                            content_id=40_000_000_000 + cid, name=f"{kind} {month} – {subject}",
                            subject=subject, topic=topic, sent_ms=sent, links=links))
    return out


def stray_addresses(seed: int, spec: Preset) -> list[str]:
    """Addresses on imported lists that belong to no contact (deterministic per seed)."""
    n = max(20, spec.contacts // 50)
    rng = stream(seed, "strays")
    words = [vocab.ascii_slug(w) for w in vocab.COMPANY_WORDS if vocab.ascii_slug(w)]
    locals_ = rng.integers(0, len(vocab.STRAY_LOCAL_PARTS), n)
    doms = rng.integers(0, len(words), n)
    return [f"{vocab.STRAY_LOCAL_PARTS[a]}{k}@{words[b]}-mail.net"
            for k, (a, b) in enumerate(zip(locals_, doms, strict=True))]


# ---------------------------------------------------------------------------- the simulation
_UA = [(compact(ua), compact({"name": name, "family": family, "producer": "",
                                    "producerUrl": "", "type": "Email Client", "url": "",
                                    "version": []}), device)
       for ua, name, family, device in (*vocab.USER_AGENTS, vocab.BOT_USER_AGENT)]
_BOT = len(_UA) - 1


@dataclass
class CampaignResult:
    rows: list[tuple]
    counters: dict[str, int]
    num_included: int
    last_updated_ms: int


class _Send:
    """One campaign's messages as arrays, plus the rows emitted so far."""

    def __init__(self, rng: np.random.Generator, campaign: Campaign, state: MailState,
                 who: np.ndarray, addresses: list[str], horizon_ms: int) -> None:
        self.rng, self.campaign, self.state, self.horizon = rng, campaign, state, horizon_ms
        self.who = who  # contact index, -1 for strays
        self.addresses = addresses
        self.n = len(who)
        self.rows: list[tuple] = []
        self.counts: Counter[str] = Counter()
        contact = who >= 0
        self.cohort = np.full(self.n, STRANGER, dtype=np.int8)
        self.cohort[contact] = state.cohort[who[contact]]
        silent = np.zeros(self.n, dtype=bool)
        silent[contact] = state.dormant_since[who[contact]] <= campaign.sent_ms
        self.cohort[silent & (self.cohort == DORMANT)] = NEVER_OPENS  # they stopped reading
        self.location = [state.location[w] if w >= 0 else location_json(None, None, None)
                         for w in who]
        spread = max(1, min(30 * MINUTE_MS, self.n * 200))
        self.sent = campaign.sent_ms + rng.integers(0, spread, self.n)
        self.sent_ids = uuids(rng, self.n)
        self.sent_kept = np.zeros(self.n, dtype=bool)  # set once SENT events are emitted

    def emit(self, kind: str, msg: np.ndarray, created: np.ndarray, extras: Sequence[str | None],
             filtered: int = 0, ids: list[str] | None = None) -> tuple[list[str], np.ndarray]:
        """Write the events that happened by the horizon; return their ids and kept mask."""
        ids = ids if ids is not None else uuids(self.rng, len(msg))
        kept = created <= self.horizon
        keep = np.flatnonzero(kept).tolist()
        if not keep:
            return ids, kept
        m = msg[keep].tolist()
        c = self.campaign
        self.rows.extend(zip(
            [ids[j] for j in keep], created[keep].tolist(), repeat(kind),
            [self.addresses[x] for x in m], repeat(c.id), repeat(c.group_id), repeat(APP_ID),
            repeat(APP_NAME), [self.sent_ids[x] for x in m], self.sent[m].tolist(),
            repeat(filtered), [extras[j] for j in keep]))
        self.counts[kind] += len(keep)
        return ids, kept

    def client(self, msg: np.ndarray, bot: bool = False) -> list[str]:
        """The userAgent/browser/location/ip/deviceType fields of opens and clicks."""
        k = len(msg)
        ua = np.full(k, _BOT) if bot else pick(self.rng, k, vocab.USER_AGENT_WEIGHTS)
        ips = self.rng.integers(1, 255, size=(k, 4)).tolist()
        out = []
        for u, m, (a, b, c, d) in zip(ua.tolist(), msg.tolist(), ips, strict=True):
            agent, browser, device = _UA[u]
            out.append(f'"userAgent":{agent},"browser":{browser},'
                       f'"location":{self.location[m]},"ipAddress":"{a}.{b}.{c}.{d}",'
                       f'"deviceType":"{device}"')
        return out

    def _recipients(self, msg: np.ndarray, created: np.ndarray, kept: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """The contacts (not strays) behind the kept events, and the events' times."""
        sel = kept & (self.who[msg] >= 0)
        who, when = self.who[msg[sel]], created[sel]
        np.maximum.at(self.state.touched, who, when)  # an hs_email_* property changed
        return who, when

    def tally(self, attr: str, msg: np.ndarray, created: np.ndarray, kept: np.ndarray
              ) -> None:
        """Add one to a per-contact counter (delivered, opens, …) for each kept event."""
        who, _ = self._recipients(msg, created, kept)
        np.add.at(getattr(self.state, attr), who, 1)

    def latest(self, attr: str, msg: np.ndarray, created: np.ndarray, kept: np.ndarray
               ) -> None:
        """Move a per-contact "last … date" forward to the kept events' times."""
        who, when = self._recipients(msg, created, kept)
        np.maximum.at(getattr(self.state, attr), who, when)


def _lognormal_ms(rng: np.random.Generator, median_ms: float, sigma: float, n: int,
                  cap_ms: int = 30 * DAY_MS) -> np.ndarray:
    return np.minimum(cap_ms, rng.lognormal(np.log(median_ms), sigma, n)).astype(np.int64) + 1


def campaign_row(campaign: Campaign, result: CampaignResult) -> tuple:
    """The `email_campaigns` row; its counters equal its event counts by type."""
    return (campaign.id, APP_ID, APP_NAME, campaign.content_id, campaign.name,
            campaign.subject, CAMPAIGN_TYPE, CAMPAIGN_SUB_TYPE, result.num_included, 0,
            result.last_updated_ms, dumps(result.counters))


def insert_campaign(con: sqlite3.Connection, campaign: Campaign, result: CampaignResult
                    ) -> None:
    con.executemany(INSERT_EVENTS, result.rows)
    con.execute(INSERT_CAMPAIGN, campaign_row(campaign, result))


def choose_audience(rng: np.random.Generator, state: MailState, sent_ms: int, share: float,
                    strays: list[str]) -> tuple[np.ndarray, list[str]]:
    """Who the campaign goes to: eligible contacts by share, some suppressed ones, strays."""
    eligible = state.mailable & (state.created < sent_ms) & (state.gone > sent_ms)
    chosen = eligible & (rng.random(len(eligible)) < share)
    suppressed = (state.unsub_ms < sent_ms) | (state.hard_bounce_ms < sent_ms)
    chosen &= ~suppressed | (rng.random(len(eligible)) < KEEP_SUPPRESSED)
    who = np.flatnonzero(chosen)
    k = int(rng.binomial(len(who), P_STRAY)) if strays else 0
    stray_pick = rng.integers(0, len(strays), k) if k else np.zeros(0, dtype=np.int64)
    addresses = [state.address[i] or "" for i in who] + [strays[s] for s in stray_pick]
    who = np.concatenate([who, np.full(k, -1, dtype=np.int64)])
    order = rng.permutation(len(who))
    return who[order], [addresses[i] for i in order]


def send_campaign(rng: np.random.Generator, campaign: Campaign, state: MailState, *,
                  share: float, horizon_ms: int, strays: list[str]) -> CampaignResult:
    """Simulate one campaign end to end; update `state`; return its rows and counters."""
    who, addresses = choose_audience(rng, state, campaign.sent_ms, share, strays)
    s = _Send(rng, campaign, state, who, addresses, horizon_ms)
    _sent(s)
    delivered_msg, delivered_at = _delivery(s)
    _engagement(s, delivered_msg, delivered_at)
    s.rows.sort(key=lambda r: r[1])
    counters = {key: 0 for key in COUNTER_KEYS}
    counters.update({k.lower(): v for k, v in s.counts.items()})
    counters["unsubscribed"] = s.counts["STATUSCHANGE"]
    last = max((r[1] for r in s.rows), default=campaign.sent_ms)
    return CampaignResult(s.rows, counters, s.n, last)


def _sent(s: _Send) -> None:
    c = s.campaign
    head = compact({"subject": c.subject, "from": f"{vocab.SENDER_NAMES[0]} <{SENDER}>",
                       "replyTo": [SENDER], "cc": [], "bcc": []})[:-1]
    extras = [f'{head},"hmid":"{sid.replace("-", "")[:24]}"}}' for sid in s.sent_ids]
    msg = np.arange(s.n)
    # The send date counts only for messages that went out, so it is folded in after drops.
    _, s.sent_kept = s.emit("SENT", msg, s.sent, extras, ids=s.sent_ids)


def _drop_reasons(s: _Send) -> list[str | None]:
    state, t0 = s.state, s.campaign.sent_ms
    random_drop = s.rng.random(s.n) < P_RANDOM_DROP
    other = ("INVALID_TO_ADDRESS", "BLOCKED_DOMAIN", "QUARANTINED_ADDRESS")
    pick_other = s.rng.integers(0, len(other), s.n)
    reasons: list[str | None] = []
    for m, w in enumerate(s.who):
        if w >= 0 and state.unsub_ms[w] < t0:
            reasons.append("PREVIOUSLY_UNSUBSCRIBED_PORTAL")
        elif w >= 0 and state.hard_bounce_ms[w] < t0:
            reasons.append("PREVIOUSLY_BOUNCED")
        elif random_drop[m]:
            reasons.append(other[pick_other[m]])
        else:
            reasons.append(None)
    return reasons


def _delivery(s: _Send) -> tuple[np.ndarray, np.ndarray]:
    """DROPPED, PROCESSED, DEFERRED, BOUNCE and DELIVERED; returns the delivered messages."""
    rng, n = s.rng, s.n
    reasons = _drop_reasons(s)
    dropped = np.array([r is not None for r in reasons], dtype=bool)
    msg = np.flatnonzero(dropped)
    s.emit("DROPPED", msg, s.sent[msg] + rng.integers(500, 5000, len(msg)),
           [compact({"dropReason": reasons[m], "dropMessage": vocab.DROP_MESSAGES[reasons[m]]})
            for m in msg])
    going = np.flatnonzero(~dropped)
    s.latest("last_send", going, s.sent[going], s.sent_kept[going])
    processed = s.sent.copy()
    processed[going] += rng.integers(1000, 20_000, len(going))
    s.emit("PROCESSED", going, processed[going], [None] * len(going))

    attempts = np.where(rng.random(n) < P_DEFERRED, rng.integers(1, 3, n), 0)
    attempts[dropped] = 0
    final_at = processed + attempts * _lognormal_ms(rng, 20 * MINUTE_MS, 0.6, n, HOUR_MS * 6)
    final_at += rng.integers(1000, 30_000, n)
    u = rng.random(n)
    p_hard = P_HARD_BOUNCE[s.cohort]
    # Strays have no suppression state to remember a hard bounce by: they only soft-bounce.
    hard = ~dropped & (u < p_hard) & (s.who >= 0)
    soft = ~dropped & ~hard & (u < p_hard + P_SOFT_BOUNCE)
    delivered = ~dropped & ~hard & ~soft
    final_ids = uuids(rng, n)

    _deferrals(s, attempts, processed, final_at, final_ids)
    _bounces(s, hard, soft, final_at, final_ids)
    msg = np.flatnonzero(delivered)
    extras = [f'{{"response":"250 2.0.0 OK {int(final_at[m]) // 1000} '
              f'{final_ids[m][:8]} - gsmtp","smtpId":"<{final_ids[m][9:23]}@mail.example.com>"}}'
              for m in msg]
    _, kept = s.emit("DELIVERED", msg, final_at[msg], extras, ids=[final_ids[m] for m in msg])
    s.tally("delivered", msg, final_at[msg], kept)
    return msg, final_at[msg]


def _deferrals(s: _Send, attempts: np.ndarray, processed: np.ndarray, final_at: np.ndarray,
               final_ids: list[str]) -> None:
    """Each deferral is obsoleted by the message's final DELIVERED or BOUNCE event."""
    msg = np.repeat(np.arange(s.n), attempts)
    attempt = np.concatenate([np.arange(1, a + 1) for a in attempts if a] or [np.zeros(0, int)])
    span = final_at[msg] - processed[msg]
    created = processed[msg] + span * attempt // (attempts[msg] + 1)
    responses = vocab.DEFERRED_RESPONSES
    extras = []
    for j, m in enumerate(msg):
        extra: dict[str, object] = {"response": responses[j % len(responses)],
                                    "attempt": int(attempt[j])}
        if final_at[m] <= s.horizon:
            extra["obsoletedBy"] = {"id": final_ids[m], "created": int(final_at[m])}
        extras.append(compact(extra))
    s.emit("DEFERRED", msg, created, extras)


def _bounces(s: _Send, hard: np.ndarray, soft: np.ndarray, final_at: np.ndarray,
             final_ids: list[str]) -> None:
    rng = s.rng
    msg = np.flatnonzero(hard | soft)
    cats = [vocab.HARD_BOUNCE_CATEGORIES[int(rng.integers(len(vocab.HARD_BOUNCE_CATEGORIES)))]
            if hard[m] else
            vocab.SOFT_BOUNCE_CATEGORIES[int(rng.integers(len(vocab.SOFT_BOUNCE_CATEGORIES)))]
            for m in msg]
    extras = [compact({"category": cat, "status": vocab.BOUNCE_RESPONSES[cat][0],
                          "response": vocab.BOUNCE_RESPONSES[cat][1]}) for cat in cats]
    _, kept = s.emit("BOUNCE", msg, final_at[msg], extras, ids=[final_ids[m] for m in msg])
    s.tally("bounces", msg, final_at[msg], kept)
    for j, m in enumerate(msg):
        w = s.who[m]
        if hard[m] and kept[j] and w >= 0 and final_at[m] < s.state.hard_bounce_ms[w]:
            s.state.hard_bounce_ms[w] = final_at[m]
            s.state.hard_bounce_reason[w] = cats[j]


def _engagement(s: _Send, msg: np.ndarray, delivered_at: np.ndarray) -> None:
    """Opens, clicks, prints, forwards, spam reports and unsubscribes of delivered messages."""
    rng = s.rng
    cohort = s.cohort[msg]
    opened = rng.random(len(msg)) < P_OPEN[cohort]
    first_open = delivered_at + _lognormal_ms(rng, 3 * HOUR_MS, 1.4, len(msg), 21 * DAY_MS)
    _opens(s, msg[opened], first_open[opened], cohort[opened])
    _bot_events(s, msg, delivered_at)
    clicked = opened & (rng.random(len(msg)) < P_CLICK[cohort])
    _clicks(s, msg[clicked], first_open[clicked])
    for kind, p in (("PRINT", P_PRINT), ("FORWARD", P_FORWARD)):
        sel = opened & (rng.random(len(msg)) < p)
        at = first_open[sel] + rng.integers(10_000, 600_000, int(sel.sum()))
        extras = [f"{{{x}}}" for x in s.client(msg[sel])]
        s.emit(kind, msg[sel], at, extras)
    _unsubscribes(s, msg, np.where(opened, first_open, delivered_at), cohort)


def _repeats(rng: np.random.Generator, first: np.ndarray, count: np.ndarray,
             median_gap_ms: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Expand each message into `count` events: the first at `first`, then random gaps.

    Returns (message position per event, event times).
    """
    rep = np.repeat(np.arange(len(first)), count)
    if not len(rep):
        return rep, np.zeros(0, dtype=np.int64)
    gaps = _lognormal_ms(rng, median_gap_ms, sigma, len(rep), 10 * DAY_MS)
    starts = np.r_[0, np.cumsum(count)[:-1]]
    gaps[starts] = 0
    csum = np.cumsum(gaps)
    return rep, first[rep] + csum - np.repeat(csum[starts], count)


def _opens(s: _Send, msg: np.ndarray, first: np.ndarray, cohort: np.ndarray) -> None:
    rng = s.rng
    rep, at = _repeats(rng, first, rng.geometric(REOPEN[cohort]), 8 * HOUR_MS, 1.5)
    durations = rng.integers(800, 60_000, len(rep))
    clients = s.client(msg[rep])
    extras = [f'{{{clients[j]},"duration":{durations[j]}}}' for j in range(len(rep))]
    _, kept = s.emit("OPEN", msg[rep], at, extras)
    s.tally("opens", msg[rep], at, kept)
    s.latest("last_open", msg[rep], at, kept)


def _click_extras(s: _Send, msg: np.ndarray, link: np.ndarray, bot: bool) -> list[str]:
    clients = s.client(msg, bot=bot)
    links = s.campaign.links
    return [f'{{"url":{compact(links[k][1])},"linkId":{links[k][0]},"referer":"",'
            f'{clients[j]}}}' for j, k in enumerate(link)]


def _clicks(s: _Send, msg: np.ndarray, first_open: np.ndarray) -> None:
    rng = s.rng
    first = first_open + _lognormal_ms(rng, 40_000, 1.0, len(msg), HOUR_MS)
    rep, at = _repeats(rng, first, rng.geometric(0.65, len(msg)), 90_000, 1.2)
    link = rng.integers(0, len(s.campaign.links), len(rep))
    _, kept = s.emit("CLICK", msg[rep], at, _click_extras(s, msg[rep], link, bot=False))
    s.tally("clicks", msg[rep], at, kept)
    s.latest("last_click", msg[rep], at, kept)


def _bot_events(s: _Send, msg: np.ndarray, delivered_at: np.ndarray) -> None:
    """Image proxies open and link scanners click within seconds: `filteredEvent: true`."""
    rng = s.rng
    sel = rng.random(len(msg)) < P_BOT_OPEN
    extras = [f'{{{x},"duration":0}}' for x in s.client(msg[sel], bot=True)]
    s.emit("OPEN", msg[sel], delivered_at[sel] + rng.integers(1000, 8000, int(sel.sum())),
           extras, filtered=1)
    sel = rng.random(len(msg)) < P_BOT_CLICK
    n_links = len(s.campaign.links)
    rep = np.repeat(np.flatnonzero(sel), n_links)
    link = np.tile(np.arange(n_links), int(sel.sum()))
    at = delivered_at[rep] + rng.integers(2000, 20_000, len(rep))
    s.emit("CLICK", msg[rep], at, _click_extras(s, msg[rep], link, bot=True), filtered=1)


def _unsubscribes(s: _Send, msg: np.ndarray, after: np.ndarray, cohort: np.ndarray) -> None:
    """Unsubscribe links and spam complaints; both end in a STATUSCHANGE to UNSUBSCRIBED."""
    rng = s.rng
    n = len(msg)
    # Only contacts can unsubscribe: a stray address has no subscription to change.
    contact = s.who[msg] >= 0
    spam = contact & (rng.random(n) < P_SPAM * (1 + (cohort >= DORMANT)))
    unsub = contact & ~spam & (rng.random(n) < P_UNSUBSCRIBE[cohort])
    sel = np.flatnonzero(spam)
    spam_at = after[sel] + _lognormal_ms(rng, 6 * HOUR_MS, 1.0, len(sel), 5 * DAY_MS)
    ip = rng.integers(1, 255, size=(len(sel), 4))
    spam_ids, spam_kept = s.emit(
        "SPAMREPORT", msg[sel], spam_at,
        [compact({"userAgent": vocab.USER_AGENTS[0][0],
                     "ipAddress": ".".join(map(str, ip[j]))}) for j in range(len(sel))])
    changes = np.concatenate([sel, np.flatnonzero(unsub)])
    at = np.concatenate([spam_at + rng.integers(1000, 3000, len(sel)),
                         after[unsub] + _lognormal_ms(rng, 2 * MINUTE_MS, 1.0,
                                                      int(unsub.sum()), DAY_MS)])
    sources = rng.integers(0, len(vocab.UNSUBSCRIBE_SOURCES), len(changes))
    extras = []
    for j, m in enumerate(changes):
        extra: dict[str, object] = {
            "source": "SOURCE_SPAM_REPORT" if j < len(sel)
            else vocab.UNSUBSCRIBE_SOURCES[sources[j]],
            "requestedBy": s.addresses[msg[m]], "portalSubscriptionStatus": "UNSUBSCRIBED",
            "subscriptions": [{"id": sid, "status": "UNSUBSCRIBED"}
                              for sid in vocab.SUBSCRIPTION_IDS],
            "bounced": False}
        if j < len(sel) and spam_kept[j]:
            extra["causedBy"] = {"id": spam_ids[j], "created": int(spam_at[j])}
        extras.append(compact(extra))
    _, kept = s.emit("STATUSCHANGE", msg[changes], at, extras)
    sel_kept = kept & (s.who[msg[changes]] >= 0)
    who = s.who[msg[changes][sel_kept]]
    np.minimum.at(s.state.unsub_ms, who, at[sel_kept])
    np.maximum.at(s.state.touched, who, at[sel_kept])
