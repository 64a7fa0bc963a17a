"""The sync's memory, in the warehouse's `reverse_etl` schema.

- `contact_state`: per contact, what HubSpot holds as far as the sync knows (`accepted_*`),
  the value in flight or refused (`pending_*`), a status, failed attempts and the last error.
  The sync diffs the model against `accepted_*`, never against the whole model, so unchanged
  contacts cost nothing.
- `sync_changes`: one row per contact a run settled: old → new values, outcome, error. It is
  also the audit trail of who entered and left which segment when.
- `in_flight`: the contacts of every batch about to be sent, with the values sent.
- `sync_runs`: one row per run (not per dry run): counts, API calls, status, abort reason.

- `contact_state_current` (a view): `contact_state` with the accepted values the journal
  holds beyond it: what the diff reads, and what to query to see what HubSpot holds.

Durability per batch, at the cost of two small appends: before a batch is sent its contacts
are appended to `in_flight` (write-ahead) and committed; after HubSpot answered, their
outcomes are appended to `sync_changes` (committed with the next batch's write-ahead record,
one commit per batch). `contact_state` is brought up to date from these two journals in bulk
(`fold`) at the end of every run (and while the API budget holds its batches back) and at the
start of the next one, which is what a killed run needs: its settled batches are applied, and
its contacts still in flight become `in_flight` in `contact_state`, read back from HubSpot by
the next run instead of being resent (see `plan.py`). Updating `contact_state` row by row per
batch instead costs over 100 ms per batch at a million contacts, more than the API budget
leaves per request.

The fold applies statuses, pending values, attempts and errors at once, but leaves the
accepted values (`accepted_*`, a long string with hundreds of thousands of distinct values at
a million contacts) in the journal until it holds `COMPACT_SHARE` of the contacts: rewriting
that column costs DuckDB most of a second at a million contacts however few rows changed
(the update and the checkpoint that follows it), which is more than a day's sync has to spare.
Likewise a clean acceptance, the usual outcome, leaves its row alone: the view takes the run
and time from the journal as well.
`accepted_seq` says which journal entries a row's `accepted_*` already include, so a value read
from HubSpot later (`save_observed`) is never overridden by an older journal entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum

import duckdb

from reverse_etl.values import OwnedValues

SCHEMA = "reverse_etl"
CONTACT_STATE = f"{SCHEMA}.contact_state"
SYNC_RUNS = f"{SCHEMA}.sync_runs"
SYNC_CHANGES = f"{SCHEMA}.sync_changes"
IN_FLIGHT = f"{SCHEMA}.in_flight"
FOLDED = f"{SCHEMA}.folded"  # one row: the journal sequence numbers applied so far
CURRENT_STATE = f"{SCHEMA}.contact_state_current"
SEQUENCE = f"{SCHEMA}.journal_seq"

# The accepted values are folded into `contact_state` once the journal holds this share of its
# rows (and at least COMPACT_MIN_ROWS): at 2% of contacts changing a day, every fifth day.
COMPACT_SHARE = 0.1
COMPACT_MIN_ROWS = 10_000

# Timestamps are UTC, stored without a time zone.
_DDL = f"""
create schema if not exists {SCHEMA};
create sequence if not exists {SEQUENCE};
create table if not exists {CONTACT_STATE} (
    contact_id varchar primary key,
    accepted_segments varchar not null,
    accepted_primary varchar not null,
    pending_segments varchar,
    pending_primary varchar,
    status varchar not null,
    attempts integer not null,
    last_error varchar,
    run_id varchar,
    updated_at timestamp not null,
    accepted_seq bigint not null default 0
);
create table if not exists {SYNC_CHANGES} (
    seq bigint not null default nextval('{SEQUENCE}'),
    run_id varchar not null,
    contact_id varchar not null,
    old_segments varchar,
    new_segments varchar,
    old_primary varchar,
    new_primary varchar,
    outcome varchar not null,
    error varchar,
    attempts integer not null,
    recorded_at timestamp not null
);
create table if not exists {IN_FLIGHT} (
    seq bigint not null default nextval('{SEQUENCE}'),
    run_id varchar not null,
    contact_id varchar not null,
    new_segments varchar not null,
    new_primary varchar not null,
    attempts integer not null,
    marked_at timestamp not null
);
create table if not exists {FOLDED} (last_seq bigint not null, text_seq bigint);
-- A state written before the accepted values were folded lazily: they all are folded.
alter table {CONTACT_STATE} add column if not exists accepted_seq bigint default 0;
alter table {FOLDED} add column if not exists text_seq bigint;
update {FOLDED} set text_seq = last_seq where text_seq is null;
create table if not exists {SYNC_RUNS} (
    run_id varchar primary key,
    started_at timestamp not null,
    ended_at timestamp,
    status varchar not null,
    forced boolean not null,
    first_run boolean,
    passed_guardrails boolean not null,
    model_rows bigint,
    planned bigint not null,
    sent bigint not null,
    accepted bigint not null,
    failed bigint not null,
    dead_lettered bigint not null,
    deleted_in_hubspot bigint not null,
    confirmed bigint not null,
    api_calls bigint not null,
    abort_reason varchar
);
"""

# What a dry run diffs against when no state exists yet (it must not create the schema).
EMPTY_STATE_SQL = (
    "(select null::varchar as contact_id, null::varchar as accepted_segments, "
    "null::varchar as accepted_primary, null::varchar as pending_segments, "
    "null::varchar as pending_primary, null::varchar as status, null::integer as attempts "
    "where false)")


class Status(StrEnum):
    """`contact_state.status`."""

    SYNCED = "synced"  # HubSpot holds accepted_* (last accepted, or read from HubSpot)
    IN_FLIGHT = "in_flight"  # pending_* was sent; the answer is not recorded yet
    FAILED = "failed"  # pending_* was refused; retried next run with the latest value
    DEAD_LETTER = "dead_letter"  # refused max_attempts times; parked until its value changes
    DELETED = "deleted_in_hubspot"  # HubSpot knows no such contact; parked likewise
    NOT_IN_MODEL = "not_in_model"  # gone from the sync model (archived or merged)


# Parked rows are not sent again while the model still wants the value that was refused.
PARKED = frozenset({Status.DEAD_LETTER, Status.DELETED})


class Outcome(StrEnum):
    """`sync_changes.outcome`."""

    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"  # sent by an interrupted run, found applied when read back
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    DELETED = "deleted_in_hubspot"


# The contact's status after each outcome, and whether HubSpot now holds the new value.
OUTCOME_STATUS: dict[Outcome, tuple[Status, bool]] = {
    Outcome.ACCEPTED: (Status.SYNCED, True),
    Outcome.CONFIRMED: (Status.SYNCED, True),
    Outcome.FAILED: (Status.FAILED, False),
    Outcome.DEAD_LETTERED: (Status.DEAD_LETTER, False),
    Outcome.DELETED: (Status.DELETED, False),
}

# The outcomes after which HubSpot holds the new value, as a SQL list.
_APPLIED = ", ".join(f"'{o}'" for o, (_, held) in OUTCOME_STATUS.items() if held)

# Per contact, the latest value HubSpot accepted that `contact_state.accepted_*` may not hold.
_UNFOLDED_ACCEPTED = f"""
    select contact_id, arg_max(new_segments, seq) as new_segments,
           arg_max(new_primary, seq) as new_primary, max(seq) as seq,
           arg_max(run_id, seq) as run_id, arg_max(recorded_at, seq) as recorded_at
    from {SYNC_CHANGES}
    where seq > (select text_seq from {FOLDED})
      and outcome in ({_APPLIED})
    group by contact_id"""
_NEWER = "j.seq > s.accepted_seq"
# A clean acceptance (see `_fold_outcomes`) leaves the row's run and time to the journal too.
_LATER = "j.recorded_at > s.updated_at"
# The columns the journal (`j`) may hold newer values of than the row (`s`): what the view
# shows and what `compact` writes.
_FROM_JOURNAL = {
    "accepted_segments": f"case when {_NEWER} then j.new_segments else s.accepted_segments end",
    "accepted_primary": f"case when {_NEWER} then j.new_primary else s.accepted_primary end",
    "run_id": f"case when {_LATER} then j.run_id else s.run_id end",
    "updated_at": f"case when {_LATER} then j.recorded_at else s.updated_at end",
}
_CURRENT_VIEW = f"""
create or replace view {CURRENT_STATE} as
select s.contact_id,
       {_FROM_JOURNAL["accepted_segments"]} as accepted_segments,
       {_FROM_JOURNAL["accepted_primary"]} as accepted_primary,
       s.pending_segments, s.pending_primary, s.status, s.attempts, s.last_error,
       {_FROM_JOURNAL["run_id"]} as run_id,
       {_FROM_JOURNAL["updated_at"]} as updated_at
from {CONTACT_STATE} as s
left join ({_UNFOLDED_ACCEPTED}) as j on j.contact_id = s.contact_id;
"""



@dataclass(frozen=True, slots=True)
class StateRow:
    """One contact's row of `contact_state`, as learnt by reading HubSpot."""

    contact_id: str
    accepted: OwnedValues
    status: Status
    pending: OwnedValues | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Sending:
    """A contact of a batch about to be sent: one row of `in_flight`."""

    contact_id: str
    new: OwnedValues
    attempts: int


@dataclass(frozen=True, slots=True)
class ChangeLog:
    """One row of `sync_changes`; `attempts` counts failed sends after this outcome."""

    contact_id: str
    old: OwnedValues
    new: OwnedValues
    outcome: Outcome
    error: str | None = None
    attempts: int = 0


class RunStatus(StrEnum):
    """`sync_runs.status`."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    ABORTED = "aborted"  # a guardrail stopped the run before its first write
    FAILED = "failed"  # an error, or more rejected rows than max_reject_share
    INTERRUPTED = "interrupted"  # killed or stopped by the user; the next run resumes
    STOPPED_DAILY_LIMIT = "stopped_daily_limit"


@dataclass
class RunRecord:
    """One row of `sync_runs`, kept up to date by the run and saved at its milestones."""

    run_id: str
    started_at: datetime
    forced: bool
    status: RunStatus = RunStatus.RUNNING
    first_run: bool | None = None
    passed_guardrails: bool = False
    model_rows: int | None = None
    planned: int = 0
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    dead_lettered: int = 0
    deleted_in_hubspot: int = 0
    confirmed: int = 0
    api_calls: int = 0
    abort_reason: str | None = None
    ended_at: datetime | None = None

    def count(self, outcome: Outcome) -> None:
        attribute = {Outcome.DELETED: "deleted_in_hubspot"}.get(outcome, outcome.value)
        setattr(self, attribute, getattr(self, attribute) + 1)


@dataclass(frozen=True)
class PreviousRun:
    run_id: str
    model_rows: int
    finished: bool  # it succeeded; else it was interrupted, failed or hit the daily limit
    planned: int  # the changes its guardrails let through


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SyncState:
    """Reads and writes the `reverse_etl` schema through one warehouse connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._in_transaction = False

    # -- schema ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self._has(CONTACT_STATE)

    def _has(self, relation: str) -> bool:
        """Whether the table or view `schema.name` exists."""
        schema, name = relation.split(".")
        row = self.con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?", [schema, name]).fetchone()
        return bool(row and row[0])

    def ensure(self) -> None:
        self.con.execute(_DDL)
        self.con.execute(_CURRENT_VIEW)

    def relation(self) -> str:
        """The state to diff against: the current one, the table of a state written before
        the view existed (a dry run cannot migrate it; its values are all folded), or an
        empty stand-in when there is none yet."""
        if not self.exists():
            return EMPTY_STATE_SQL
        return CURRENT_STATE if self._has(CURRENT_STATE) else CONTACT_STATE

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckDB transaction; nested uses join the outer one (one commit)."""
        if self._in_transaction:
            yield
            return
        self.con.begin()
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        else:
            self.con.commit()
        finally:
            self._in_transaction = False

    # -- runs -----------------------------------------------------------------------------------
    def close_interrupted_runs(self) -> int:
        """Runs still `running` were killed: mark them `interrupted` (their state is intact)."""
        rows = self.con.execute(
            f"update {SYNC_RUNS} set status = ?, ended_at = ? where status = ? "
            f"returning run_id", [RunStatus.INTERRUPTED, utc_now(), RunStatus.RUNNING]
        ).fetchall()
        return len(rows)

    def previous_run(self) -> PreviousRun | None:
        """The latest run that passed its guardrails: the baseline of the next ones."""
        if not self.exists():
            return None
        row = self.con.execute(
            f"select run_id, model_rows, status = ?, planned from {SYNC_RUNS} "
            f"where passed_guardrails and model_rows is not null "
            f"order by started_at desc limit 1", [RunStatus.SUCCEEDED]).fetchone()
        return PreviousRun(str(row[0]), int(row[1]), bool(row[2]), int(row[3])) if row else None

    def save_run(self, run: RunRecord) -> None:
        names = [f.name for f in fields(RunRecord)]
        self.con.execute(
            f"insert or replace into {SYNC_RUNS} ({', '.join(names)}) "
            f"values ({', '.join('?' for _ in names)})",
            [getattr(run, name) for name in names])

    # -- contact state, set-based -----------------------------------------------------------------
    def forget_accepted(self, *, segments: bool, primary: bool) -> None:
        """A property HubSpot does not have holds no values, whatever the state remembers."""
        sets = [f"accepted_{column} = ''" for column, flag in
                (("segments", segments), ("primary", primary)) if flag]
        if sets:
            with self.transaction():
                self.compact()  # the journal's accepted values are forgotten too
                self.con.execute(f"update {CONTACT_STATE} set {', '.join(sets)}")

    def refresh_model_membership(self, run_id: str, model: str) -> int:
        """Mark contacts gone from the model `not_in_model` (archived or merged in HubSpot: the
        sync never writes them), and those back in it `in_flight`, so the next run reads them
        back: what HubSpot holds may have changed meanwhile (a write left in flight when they
        left, an edit while archived). Returns how many left."""
        # One pass: a row changes when its status disagrees with the model, and flips.
        in_model = (f"exists (select 1 from {model} as m "
                    f"where cast(m.contact_id as varchar) = s.contact_id)")
        flipped = self.con.execute(
            f"update {CONTACT_STATE} as s set status = case when s.status = $gone "
            f"then $back else $gone end, run_id = $run_id, updated_at = $now "
            f"where (s.status = $gone) = {in_model} returning s.status",
            {"gone": Status.NOT_IN_MODEL, "back": Status.IN_FLIGHT, "run_id": run_id,
             "now": utc_now()}).fetchall()
        return sum(status == Status.NOT_IN_MODEL for (status,) in flipped)

    def fold(self) -> None:
        """Apply the journals written since the last fold to `contact_state`, in one
        transaction: each contact's latest outcome, then the contacts still in flight."""
        with self.transaction():
            self.con.execute(f"insert into {FOLDED} select 0, 0 where not exists "
                             f"(select 1 from {FOLDED})")
            if not self._unfolded():
                return  # the usual start of a run: the two updates would scan for nothing
            self._fold_outcomes()
            self._fold_in_flight()
            self.con.execute(
                f"update {FOLDED} set last_seq = greatest(last_seq, "
                f"coalesce((select max(seq) from {SYNC_CHANGES}), 0), "
                f"coalesce((select max(seq) from {IN_FLIGHT}), 0))")
            self.con.execute(f"delete from {IN_FLIGHT}")
            if self._unfolded_accepted() >= max(COMPACT_MIN_ROWS,
                                                COMPACT_SHARE * self._state_rows()):
                self.compact()

    def compact(self) -> None:
        """Fold the accepted values the journal holds into `contact_state.accepted_*`."""
        with self.transaction():
            sets = ", ".join(f"{column} = {value}" for column, value in _FROM_JOURNAL.items())
            self.con.execute(f"""
                update {CONTACT_STATE} as s set {sets},
                    accepted_seq = greatest(s.accepted_seq, j.seq)
                from ({_UNFOLDED_ACCEPTED}) as j
                where j.contact_id = s.contact_id and ({_NEWER} or {_LATER})""")
            self.con.execute(f"update {FOLDED} set text_seq = greatest(text_seq, "
                             f"coalesce((select max(seq) from {SYNC_CHANGES}), 0))")

    def _unfolded_accepted(self) -> int:
        row = self.con.execute(
            f"select count(*) from {SYNC_CHANGES} where seq > (select text_seq from {FOLDED}) "
            f"and outcome in ({_APPLIED})").fetchone()
        return int(row[0]) if row else 0

    def _state_rows(self) -> int:
        row = self.con.execute(f"select count(*) from {CONTACT_STATE}").fetchone()
        return int(row[0]) if row else 0

    def _unfolded(self) -> bool:
        row = self.con.execute(
            f"select exists (select 1 from {IN_FLIGHT}) or exists (select 1 from {SYNC_CHANGES}"
            f" where seq > (select last_seq from {FOLDED}))").fetchone()
        return bool(row and row[0])

    def _fold_outcomes(self) -> None:
        """Statuses and pending values; the accepted values stay in the journal (`compact`).

        A clean acceptance (the row was `synced`, nothing pending, no attempts, no error)
        changes nothing here but the run and time, which the view takes from the journal as
        well: on a usual day that is nearly every row, and skipping them spares the checkpoint
        a rewrite of five columns of a million-row table (0.3–0.9 s at the end of a run)."""
        status = " ".join(f"when '{o}' then '{s}'" for o, (s, _) in OUTCOME_STATUS.items())
        self.con.execute(f"""
            update {CONTACT_STATE} as s set
                pending_segments = case when c.outcome in ({_APPLIED}) then null
                                        else c.new_segments end,
                pending_primary = case when c.outcome in ({_APPLIED}) then null
                                       else c.new_primary end,
                status = case c.outcome {status} end,
                attempts = c.attempts, last_error = c.error, run_id = c.run_id,
                updated_at = c.recorded_at
            from (select * from {SYNC_CHANGES}
                  where seq > (select last_seq from {FOLDED})
                  qualify row_number() over (partition by contact_id order by seq desc) = 1
                 ) as c
            where s.contact_id = c.contact_id
              and not (c.outcome in ({_APPLIED}) and c.attempts = 0 and c.error is null
                       and s.status = '{Status.SYNCED}' and s.attempts = 0
                       and s.last_error is null and s.pending_segments is null
                       and s.pending_primary is null)""")

    def _fold_in_flight(self) -> None:
        """Marked, never settled: the answer was lost (killed, or the request failed)."""
        self.con.execute(f"""
            update {CONTACT_STATE} as s set status = '{Status.IN_FLIGHT}',
                pending_segments = f.new_segments, pending_primary = f.new_primary,
                attempts = f.attempts, run_id = f.run_id, updated_at = f.marked_at
            from {IN_FLIGHT} as f
            where s.contact_id = f.contact_id
              and not exists (select 1 from {SYNC_CHANGES} as c
                              where c.seq > (select last_seq from {FOLDED})
                                and c.contact_id = f.contact_id and c.seq > f.seq)""")

    # -- contact state, per batch -----------------------------------------------------------------
    def save_observed(self, run_id: str, rows: Sequence[StateRow], *, known: bool,
                      confirmed: Sequence[ChangeLog] = ()) -> None:
        """Record what reading HubSpot taught, in one transaction: `rows` are new to the state
        (`known=False`: inserted) or replace existing rows (`known=True`)."""
        with self.transaction():
            if rows:
                if known:
                    placeholders = ", ".join("?" for _ in rows)
                    self.con.execute(f"delete from {CONTACT_STATE} where contact_id in "
                                     f"({placeholders})", [r.contact_id for r in rows])
                self._insert(run_id, rows)
            if confirmed:
                self._append_log(run_id, confirmed)

    def mark_in_flight(self, run_id: str, batch: Sequence[Sending]) -> None:
        """The write-ahead record of a batch, committed before it is sent."""
        self.con.execute(
            f"insert into {IN_FLIGHT} (run_id, contact_id, new_segments, new_primary, attempts, "
            "marked_at) select ?, unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::varchar[]), unnest(?::integer[]), ?",
            [run_id, [s.contact_id for s in batch], [s.new.segments for s in batch],
             [s.new.primary for s in batch], [s.attempts for s in batch], utc_now()])

    def log(self, run_id: str, entries: Sequence[ChangeLog]) -> None:
        """Outcomes of a batch (or of rows refused before sending), committed at once."""
        if entries:
            self._append_log(run_id, entries)

    def _insert(self, run_id: str, rows: Sequence[StateRow]) -> None:
        # Lists bound as parameters and unnested: one statement per batch, not one per row.
        # What HubSpot holds now is newer than every accepted value journaled so far.
        self.con.execute(
            f"insert into {CONTACT_STATE} (contact_id, accepted_segments, accepted_primary, "
            "pending_segments, pending_primary, status, attempts, last_error, run_id, "
            "updated_at, accepted_seq) "
            "select unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            f"unnest(?::integer[]), unnest(?::varchar[]), ?, ?, "
            f"coalesce((select max(seq) from {SYNC_CHANGES}), 0)",
            [[r.contact_id for r in rows],
             [r.accepted.segments for r in rows],
             [r.accepted.primary for r in rows],
             [r.pending.segments if r.pending else None for r in rows],
             [r.pending.primary if r.pending else None for r in rows],
             [str(r.status) for r in rows],
             [r.attempts for r in rows],
             [r.last_error for r in rows],
             run_id, utc_now()])

    def _append_log(self, run_id: str, log: Sequence[ChangeLog]) -> None:
        self.con.execute(
            f"insert into {SYNC_CHANGES} (run_id, contact_id, old_segments, new_segments, "
            "old_primary, new_primary, outcome, error, attempts, recorded_at) "
            "select ?, unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::varchar[]), unnest(?::integer[]), ?",
            [run_id,
             [c.contact_id for c in log],
             [c.old.segments for c in log],
             [c.new.segments for c in log],
             [c.old.primary for c in log],
             [c.new.primary for c in log],
             [str(c.outcome) for c in log],
             [c.error for c in log],
             [c.attempts for c in log],
             utc_now()])
