"""The sync's memory, in the warehouse's `reverse_etl` schema.

- `contact_state`: per contact, what HubSpot holds as far as the sync knows (`accepted_*`),
  the value in flight or refused (`pending_*`), a status, failed attempts and the last error.
  The sync diffs the model against `accepted_*`, never against the whole model, so unchanged
  contacts cost nothing.
- `sync_runs`: one row per run (not per dry run): counts, API calls, status, abort reason.
- `sync_changes`: one row per contact a run settled: old → new values, outcome, error. It is
  also the audit trail of who entered and left which segment when.

Every change of state is one DuckDB transaction, committed per batch: a batch is marked
`in_flight` with its values before it is sent (write-ahead), and settled after HubSpot answered.
A run killed in between leaves `in_flight` rows, which the next run reads back from HubSpot
instead of resending (see `plan.py`).
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

# Timestamps are UTC, stored without a time zone.
_DDL = f"""
create schema if not exists {SCHEMA};
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
    updated_at timestamp not null
);
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
create table if not exists {SYNC_CHANGES} (
    run_id varchar not null,
    contact_id varchar not null,
    old_segments varchar,
    new_segments varchar,
    old_primary varchar,
    new_primary varchar,
    outcome varchar not null,
    error varchar,
    recorded_at timestamp not null
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


@dataclass(frozen=True, slots=True)
class StateRow:
    """One contact's row of `contact_state`, as it should be after a step."""

    contact_id: str
    accepted: OwnedValues
    status: Status
    pending: OwnedValues | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeLog:
    """One row of `sync_changes`."""

    contact_id: str
    old: OwnedValues
    new: OwnedValues
    outcome: Outcome
    error: str | None = None


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


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SyncState:
    """Reads and writes the `reverse_etl` schema through one warehouse connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    # -- schema ---------------------------------------------------------------------------------
    def exists(self) -> bool:
        row = self.con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = 'contact_state'", [SCHEMA]).fetchone()
        return bool(row and row[0])

    def ensure(self) -> None:
        self.con.execute(_DDL)

    def relation(self) -> str:
        """The state table to diff against, or an empty stand-in when there is none yet."""
        return CONTACT_STATE if self.exists() else EMPTY_STATE_SQL

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

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
            f"select run_id, model_rows from {SYNC_RUNS} where passed_guardrails "
            f"and model_rows is not null order by started_at desc limit 1").fetchone()
        return PreviousRun(str(row[0]), int(row[1])) if row else None

    def save_run(self, run: RunRecord) -> None:
        names = [f.name for f in fields(RunRecord)]
        self.con.execute(
            f"insert or replace into {SYNC_RUNS} ({', '.join(names)}) "
            f"values ({', '.join('?' for _ in names)})",
            [getattr(run, name) for name in names])

    # -- contacts -------------------------------------------------------------------------------
    def forget_accepted(self, *, segments: bool, primary: bool) -> None:
        """A property HubSpot does not have holds no values, whatever the state remembers."""
        sets = [f"accepted_{column} = ''" for column, flag in
                (("segments", segments), ("primary", primary)) if flag]
        if sets:
            self.con.execute(f"update {CONTACT_STATE} set {', '.join(sets)}")

    def refresh_model_membership(self, run_id: str, model: str) -> int:
        """Mark contacts gone from the model `not_in_model` (archived or merged in HubSpot: the
        sync never writes them), and those back in it `synced`; returns how many left."""
        in_model = (f"exists (select 1 from {model} as m "
                    f"where cast(m.contact_id as varchar) = s.contact_id)")
        left = self.con.execute(
            f"update {CONTACT_STATE} as s set status = ?, run_id = ?, updated_at = ? "
            f"where s.status <> ? and not {in_model} returning s.contact_id",
            [Status.NOT_IN_MODEL, run_id, utc_now(), Status.NOT_IN_MODEL]).fetchall()
        self.con.execute(
            f"update {CONTACT_STATE} as s set status = ?, run_id = ?, updated_at = ? "
            f"where s.status = ? and {in_model}",
            [Status.SYNCED, run_id, utc_now(), Status.NOT_IN_MODEL])
        return len(left)

    def write(self, run_id: str, rows: Sequence[StateRow],
              log: Sequence[ChangeLog] = ()) -> None:
        """Upsert `rows` and append `log`, in one transaction (one batch's commit)."""
        with self._transaction():
            if rows:
                self._upsert(run_id, rows)
            if log:
                self._append_log(run_id, log)

    def _upsert(self, run_id: str, rows: Sequence[StateRow]) -> None:
        # Lists bound as parameters and unnested: one statement per batch, not one per row.
        self.con.execute(
            f"insert or replace into {CONTACT_STATE} (contact_id, accepted_segments, "
            "accepted_primary, pending_segments, pending_primary, status, attempts, "
            "last_error, run_id, updated_at) "
            "select unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::integer[]), unnest(?::varchar[]), ?, ?",
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
            "old_primary, new_primary, outcome, error, recorded_at) "
            "select ?, unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::varchar[]), ?",
            [run_id,
             [c.contact_id for c in log],
             [c.old.segments for c in log],
             [c.new.segments for c in log],
             [c.old.primary for c in log],
             [c.new.primary for c in log],
             [str(c.outcome) for c in log],
             [c.error for c in log],
             utc_now()])
