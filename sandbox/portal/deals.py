"""Deals that tell the same story as the contacts' lifecycle stages.

Every customer won a new-business deal that was created when they became an opportunity and
closed when they became a customer; some customers later renew (or churn) in the Renewals
pipeline; current opportunities have an open deal; lost deals fill up the preset's count. A few
percent have no amount, no contact, or were archived.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sandbox.portal.clock import iso
from sandbox.portal.crm import CUSTOMER, OPPORTUNITY, SQL, Companies, Contacts
from sandbox.portal.rand import DAY_MS, increasing_ids
from sandbox.portal.schema import PIPELINES, STAGES, Pipeline

DEAL_ID_BASE = 30_000_000_000
SALES, RENEWALS = PIPELINES
PRODUCTS = ("Starter plan", "Professional plan", "Enterprise plan", "Onboarding package",
            "Analytics add-on", "Annual licence", "Consulting hours")


@dataclass
class Deal:
    created: int
    pipeline: Pipeline
    path: list[tuple[str, int]]  # (stage id, time entered), oldest first
    close: int | None  # the closedate property; None when nobody filled it in
    amount: float | None
    dealtype: str
    name: str
    contacts: list[int] = field(default_factory=list)  # contact indices
    company: int = -1
    archived_ms: int | None = None
    id: int = 0

    @property
    def stage(self) -> str:
        return self.path[-1][0]

    @property
    def updated(self) -> int:
        return max(self.path[-1][1], self.archived_ms or 0)


def _walk(rng: np.random.Generator, pipeline: Pipeline, start: int, end: int, final: str
          ) -> list[tuple[str, int]]:
    """Stage path from the first open stage to `final`, at sorted times in [start, end]."""
    opens = [s.id for s in pipeline.open_stages]
    if final in opens:
        stages = opens[:opens.index(final) + 1]
    else:
        reached = int(rng.integers(1, len(opens) + 1))
        stages = [*opens[:reached], final]
    times = np.sort(rng.integers(start, max(start + 1, end), size=len(stages) - 1))
    return list(zip(stages, [start, *map(int, times)], strict=True))


def _amount(rng: np.random.Generator, scale: float) -> float | None:
    if rng.random() < 0.06:
        return None  # real pipelines have deals nobody priced
    return round(float(rng.lognormal(np.log(scale), 0.9)), 2)


def make_deals(rng: np.random.Generator, target: int, contacts: Contacts, companies: Companies,
               anchor_ms: int) -> list[Deal]:
    deals = [*_won(rng, contacts, companies), *_renewals(rng, contacts, companies, anchor_ms),
             *_open(rng, contacts, companies, anchor_ms)]
    deals += _lost(rng, max(0, target - len(deals)), contacts, companies, anchor_ms)
    _attach_colleagues(rng, deals, contacts)
    for deal in deals:
        if deal.stage in (SALES.lost, RENEWALS.lost) and rng.random() < 0.08:
            deal.contacts = []  # a deal nobody linked a contact to
        unfinished = not STAGES[deal.stage][1].closed or deal.stage == SALES.lost
        if unfinished and rng.random() < 0.04:
            deal.archived_ms = deal.updated + int(rng.random() * (anchor_ms - deal.updated))
    deals.sort(key=lambda d: d.created)
    for deal, deal_id in zip(deals, increasing_ids(rng, DEAL_ID_BASE, len(deals)), strict=True):
        deal.id = int(deal_id)
    return deals


def _company_name(contacts: Contacts, companies: Companies, i: int) -> str:
    co = int(contacts.company[i])
    return companies.name[co] if co >= 0 else f"{contacts.first[i]} {contacts.last[i]}"


def _new(rng: np.random.Generator, contacts: Contacts, companies: Companies, i: int,
         pipeline: Pipeline, path: list[tuple[str, int]], close: int | None, dealtype: str,
         label: str) -> Deal:
    return Deal(created=path[0][1], pipeline=pipeline, path=path, close=close,
                amount=_amount(rng, 9_000 if pipeline is SALES else 6_000), dealtype=dealtype,
                name=f"{_company_name(contacts, companies, i)} – {label}",
                contacts=[i], company=int(contacts.company[i]))


def _won(rng: np.random.Generator, contacts: Contacts, companies: Companies) -> list[Deal]:
    """One won new-business deal per customer: opportunity → customer."""
    out = []
    for i in np.flatnonzero((contacts.stage == CUSTOMER) | (contacts.stage == CUSTOMER + 1)):
        start, end = int(contacts.stage_ms[i, OPPORTUNITY]), int(contacts.stage_ms[i, CUSTOMER])
        path = _walk(rng, SALES, start, end, SALES.won)
        path[-1] = (SALES.won, end)
        product = PRODUCTS[int(rng.integers(len(PRODUCTS)))]
        out.append(_new(rng, contacts, companies, int(i), SALES, path, end, "newbusiness",
                        product))
    return out


def _renewals(rng: np.random.Generator, contacts: Contacts, companies: Companies,
              anchor_ms: int) -> list[Deal]:
    """Four to thirteen months after winning, most customers come up for renewal."""
    out = []
    for i in np.flatnonzero((contacts.stage == CUSTOMER) | (contacts.stage == CUSTOMER + 1)):
        start = int(contacts.stage_ms[i, CUSTOMER]) + int(rng.integers(120, 400)) * DAY_MS
        if start >= anchor_ms or rng.random() < 0.3:
            continue
        close = start + int(rng.integers(10, 60)) * DAY_MS
        if close < anchor_ms:
            final = RENEWALS.won if rng.random() < 0.8 else RENEWALS.lost
            path = _walk(rng, RENEWALS, start, close, final)
            path[-1] = (final, close)
        else:
            opens = RENEWALS.open_stages
            path = _walk(rng, RENEWALS, start, anchor_ms,
                         opens[int(rng.integers(len(opens)))].id)
            close = anchor_ms if rng.random() < 0.2 else None
        year = iso(start)[:4]
        out.append(_new(rng, contacts, companies, int(i), RENEWALS, path, close,
                        "existingbusiness", f"Renewal {year}"))
    return out


def _open(rng: np.random.Generator, contacts: Contacts, companies: Companies,
          anchor_ms: int) -> list[Deal]:
    """Current opportunities have a deal in an open stage (close date: stale or today)."""
    out = []
    opens = SALES.open_stages
    for i in np.flatnonzero(contacts.stage == OPPORTUNITY):
        start = int(contacts.stage_ms[i, OPPORTUNITY])
        path = _walk(rng, SALES, start, anchor_ms, opens[int(rng.integers(len(opens)))].id)
        close = min(anchor_ms, start + int(rng.integers(14, 120)) * DAY_MS)
        out.append(_new(rng, contacts, companies, int(i), SALES, path, close, "newbusiness",
                        PRODUCTS[int(rng.integers(len(PRODUCTS)))]))
    return out


def _lost(rng: np.random.Generator, n: int, contacts: Contacts, companies: Companies,
          anchor_ms: int) -> list[Deal]:
    """Lost deals for people who reached sales conversations (SQL and beyond)."""
    pool = np.flatnonzero((contacts.stage >= SQL) & (contacts.stage <= CUSTOMER + 1)
                          & contacts.live())
    out: list[Deal] = []
    if not len(pool):
        return out
    for i in rng.choice(pool, size=n):
        start = int(contacts.stage_ms[i, SQL])
        start = start + int(rng.random() * (anchor_ms - start) * 0.5)
        close = min(anchor_ms, start + int(rng.integers(7, 90)) * DAY_MS)
        path = _walk(rng, SALES, start, close, SALES.lost)
        path[-1] = (SALES.lost, close)
        out.append(_new(rng, contacts, companies, int(i), SALES, path, close, "newbusiness",
                        PRODUCTS[int(rng.integers(len(PRODUCTS)))]))
    return out


def _attach_colleagues(rng: np.random.Generator, deals: list[Deal], contacts: Contacts) -> None:
    """A fifth of company deals also involve one or two colleagues of the main contact."""
    live = contacts.live() & (contacts.company >= 0)
    staff: dict[int, list[int]] = {}
    for i in np.flatnonzero(live):
        staff.setdefault(int(contacts.company[i]), []).append(int(i))
    for deal in deals:
        team = staff.get(deal.company, [])
        if len(team) > 1 and rng.random() < 0.2:
            extra = rng.choice(team, size=min(len(team), int(rng.integers(1, 3))), replace=False)
            deal.contacts += [int(x) for x in extra if int(x) not in deal.contacts]


def stage_props(stage_id: str) -> dict[str, str]:
    """The properties HubSpot derives from a deal's stage."""
    pipeline, stage = STAGES[stage_id]
    return {"dealstage": stage_id, "pipeline": pipeline.id,
            "hs_is_closed": "true" if stage.closed else "false",
            "hs_is_closed_won": "true" if stage_id == pipeline.won else "false",
            "hs_deal_stage_probability": stage.probability}


def deal_props(deal: Deal) -> dict[str, str]:
    props = {
        "dealname": deal.name, "createdate": iso(deal.created), **stage_props(deal.stage),
        "dealtype": deal.dealtype, "hs_lastmodifieddate": iso(deal.updated),
        "hs_object_id": str(deal.id),
    }
    if deal.amount is not None:
        props["amount"] = f"{deal.amount:.2f}".rstrip("0").rstrip(".")
    if deal.close is not None:
        props["closedate"] = iso(deal.close)
    return {k: v for k, v in props.items() if v is not None}


def is_live(deal: Deal) -> bool:
    return deal.archived_ms is None

