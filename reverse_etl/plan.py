"""What a run has to write: the sync model diffed against what HubSpot last accepted.

1. `load_candidates`: one SQL join of the sync model with `reverse_etl.contact_state` returns
   only the contacts that may need work: values that differ from the last accepted ones,
   contacts the sync has never seen, writes an interrupted run left `in_flight`, and contacts
   back in the model after leaving it.
2. `observe`: contacts never seen, `in_flight` ones and those back are read from HubSpot
   first (batch read, 100 per call). What HubSpot holds becomes their baseline, so
   - the first run against a portal that already holds values writes only the differences
     (no blind overwrite storm), and a lost or deleted state heals itself the same way;
   - a batch HubSpot accepted just before the run was killed is found applied and recorded
     as `confirmed`, not sent again.
3. `make_plan`: the changes to send, in contact-id order, minus
   - parked contacts (dead-lettered, or deleted in HubSpot) whose wanted value is the one
     that was refused: they come back when their value changes;
   - rows naming a segment key that is not an option (refused before sending, with the key).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import duckdb

from reverse_etl.state import PARKED, ChangeLog, Outcome, StateRow, Status
from reverse_etl.values import EMPTY, OwnedValues, canonical_segments_sql

NOT_FOUND_ERROR = "HubSpot returned no such contact when read (deleted, or merged into another)"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A model row that may need work, with what the state knows about it."""

    contact_id: str
    desired: OwnedValues
    accepted: OwnedValues | None  # None: the sync has never seen this contact
    status: Status | None
    pending: OwnedValues | None
    attempts: int

    @property
    def needs_read(self) -> bool:
        return self.accepted is None or self.status in UNSURE


# What HubSpot holds is not known for these, whatever the state remembers: a write in flight,
# or a contact back in the model (HubSpot's value may have changed while it was out of it).
UNSURE = frozenset({Status.IN_FLIGHT, Status.NOT_IN_MODEL})
DIFF_TABLE = "hubseg_sync_diff"  # a temporary table: allowed on a read-only warehouse too


def load_candidates(con: duckdb.DuckDBPyConnection, model: str, state: str, *,
                    forget_segments: bool = False, forget_primary: bool = False
                    ) -> list[Candidate]:
    """Model rows that differ from the state, are unknown to it, or are in flight.

    One join of the model with the state keeps the rows that may need work in a temporary
    table; the costly canonical form of the segment keys (list lambdas: seconds at a million
    rows) is computed only there. `accepted_*` is always canonical, so a raw model value equal
    to it is canonical and unchanged already. Two fetches follow: contacts the state has never
    seen need only the model's columns (on a first run that is every contact, and fetching
    empty state columns for a million rows costs seconds); the others come with their state.

    `forget_*`: the property does not exist in HubSpot, so it holds nothing, whatever the state
    remembers (a dry run cannot rewrite the state, so this is applied in the query).
    """
    accepted_segments = "''" if forget_segments else "s.accepted_segments"
    accepted_primary = "''" if forget_primary else "s.accepted_primary"
    primary = "coalesce(trim(m.primary_segment_key), '')"
    # Row order is restored by `make_plan`; not keeping it makes this join ~35% faster.
    con.execute("set preserve_insertion_order = false")
    try:
        con.execute(f"""
            create or replace temporary table {DIFF_TABLE} as
            select cast(m.contact_id as varchar) as contact_id, m.segment_keys,
                   {primary} as primary_segment, s.contact_id is null as unseen,
                   {accepted_segments} as accepted_segments,
                   {accepted_primary} as accepted_primary, s.status, s.pending_segments,
                   s.pending_primary, s.attempts
            from {model} as m
            left join {state} as s on s.contact_id = cast(m.contact_id as varchar)
            where m.contact_id is not null
              and (s.contact_id is null or s.status in ('{Status.IN_FLIGHT}',
                                                        '{Status.NOT_IN_MODEL}')
                   or {primary} <> {accepted_primary}
                   or coalesce(m.segment_keys, '') <> {accepted_segments})""")
        segments = canonical_segments_sql("segment_keys")
        unseen = con.execute(f"select contact_id, {segments}, primary_segment "
                             f"from {DIFF_TABLE} where unseen").fetchall()
        # Filtered here, not in SQL: a filter on `segments` would compute it twice.
        known = [row for row in con.execute(f"""
            select contact_id, {segments} as segments, primary_segment, accepted_segments,
                   accepted_primary, status, pending_segments, pending_primary, attempts
            from {DIFF_TABLE} where not unseen""").fetchall()
            if row[5] in UNSURE or row[1:3] != row[3:5]]
    finally:
        con.execute(f"drop table if exists {DIFF_TABLE}")
        con.execute("reset preserve_insertion_order")
    candidates = [Candidate(cid, OwnedValues(segments, primary), None, None, None, 0)
                  for cid, segments, primary in unseen]
    candidates += [Candidate(
        contact_id=cid,
        desired=OwnedValues(segments, primary),  # canonical already (see the query)
        accepted=OwnedValues(acc_segments, acc_primary),
        status=Status(status),
        pending=None if pend_segments is None else OwnedValues(pend_segments, pend_primary),
        attempts=int(attempts),
    ) for (cid, segments, primary, acc_segments, acc_primary, status, pend_segments,
           pend_primary, attempts) in known]
    return candidates


@dataclass
class Observation:
    """What reading some candidates from HubSpot taught: new candidates and what to record."""

    candidates: list[Candidate] = field(default_factory=list)
    new_rows: list[StateRow] = field(default_factory=list)  # contacts new to the state
    known_rows: list[StateRow] = field(default_factory=list)  # in-flight ones, resolved
    confirmed: list[ChangeLog] = field(default_factory=list)


def observe(candidates: Sequence[Candidate], current: Mapping[str, OwnedValues | None]
            ) -> Observation:
    """Take HubSpot's current values (None: no such contact) as the candidates' baseline."""
    out = Observation()
    for c in candidates:
        value = current.get(c.contact_id)
        if value is None:
            row = StateRow(c.contact_id, c.accepted or EMPTY, Status.DELETED, c.desired,
                           c.attempts, NOT_FOUND_ERROR)
        else:
            row = StateRow(c.contact_id, value, Status.SYNCED, None, c.attempts)
            if c.status == Status.IN_FLIGHT and c.pending == value:
                out.confirmed.append(ChangeLog(c.contact_id, c.accepted or EMPTY, value,
                                               Outcome.CONFIRMED, attempts=c.attempts))
        (out.new_rows if c.accepted is None else out.known_rows).append(row)
        out.candidates.append(replace(c, accepted=row.accepted, status=row.status,
                                      pending=row.pending))
    return out


@dataclass(frozen=True, slots=True)
class Change:
    """One contact to write: HubSpot holds `old`, the model wants `new`."""

    contact_id: str
    old: OwnedValues
    new: OwnedValues
    attempts: int  # failed sends so far

    @property
    def clears(self) -> bool:
        return bool(self.old.segments) and not self.new.segments


@dataclass
class Plan:
    model_rows: int
    changes: list[Change]
    invalid: list[tuple[Change, str]]  # (change, why it cannot be sent)
    parked: int

    @property
    def changing(self) -> int:
        """Contacts whose values would change (including those refused before sending)."""
        return len(self.changes) + len(self.invalid)

    @property
    def clears(self) -> int:
        """Contacts that would lose every segment (both properties cleared with `""`)."""
        return sum(c.clears for c in self.changes) + sum(c.clears for c, _ in self.invalid)

    @cached_property
    def movements(self) -> dict[str, tuple[int, int]]:
        """Per segment key: (contacts entering, contacts leaving), for the changes sent."""
        enters: Counter[str] = Counter()
        leaves: Counter[str] = Counter()
        for c in self.changes:
            enters.update(c.new.keys - c.old.keys)
            leaves.update(c.old.keys - c.new.keys)
        return {k: (enters[k], leaves[k]) for k in sorted(enters.keys() | leaves.keys())}

    def batches(self, size: int) -> list[list[Change]]:
        return [self.changes[i:i + size] for i in range(0, len(self.changes), size)]

    def write_calls(self, size: int) -> int:
        """Batch updates needed when HubSpot refuses nothing: ⌈changes ÷ batch size⌉."""
        return math.ceil(len(self.changes) / size)


def _id_order(contact_id: str) -> tuple[int, str]:
    return (len(contact_id), contact_id)  # numeric ids in numeric order


def unknown_keys(values: OwnedValues, options: frozenset[str]) -> list[str]:
    keys = values.keys | ({values.primary} if values.primary else frozenset())
    return [] if keys <= options else sorted(keys - options)


def make_plan(model_rows: int, candidates: Sequence[Candidate], options: frozenset[str],
              segments_model: str) -> Plan:
    """The changes to send; every candidate must have been observed (`accepted` known)."""
    changes: list[Change] = []
    invalid: list[tuple[Change, str]] = []
    parked = 0
    for c in candidates:
        assert c.accepted is not None, "observe() unknown contacts before planning"
        if c.desired == c.accepted:
            continue
        if c.status in PARKED and c.pending == c.desired:
            parked += 1
            continue
        # A parked contact whose wanted value changed starts a fresh series of attempts.
        attempts = 0 if c.status in PARKED else c.attempts
        change = Change(c.contact_id, c.accepted, c.desired, attempts)
        unknown = unknown_keys(c.desired, options)
        if unknown:
            invalid.append((change, (
                f"segment key {', '.join(map(repr, unknown))} is not declared in "
                f"{segments_model}, so it is no option of the HubSpot properties; fix the "
                "sync model or the segment YAML and run `dbt build`")))
        else:
            changes.append(change)
    changes.sort(key=lambda c: _id_order(c.contact_id))
    return Plan(model_rows, changes, invalid, parked)
