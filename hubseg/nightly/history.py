"""Run history: the `nightly.runs` table and the JSON summary of the last run.

The table lives in the working warehouse (the nightly's own record, written at the start and
end of every run) and is copied into the published one, so BI and the report show it too. A run
that was killed leaves its row `running`; the next run (which holds the lock, so no other run
can be alive) marks such rows `killed`.

The JSON summary (`<runs dir>/last_run.json`, and `<runs dir>/<run id>/summary.json`) is for
schedulers and alerting: the same fields as the table plus every step's details. It holds
counts and statuses only, never a token, an email address or a name.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from hubseg.nightly.steps import StepResult

SCHEMA = "nightly"
TABLE = f"{SCHEMA}.runs"
STEP_NAMES = ("extract", "build", "sync", "publish")

_COLUMNS: dict[str, str] = {
    "run_id": "varchar primary key",
    "started_at": "timestamp",
    "ended_at": "timestamp",
    "status": "varchar",
    "exit_code": "integer",
    "dry_run": "boolean",
    **{f"{step}_status": "varchar" for step in STEP_NAMES},
    "rows_loaded": "bigint",
    "models_built": "integer",
    "tests_passed": "integer",
    "tests_failed": "integer",
    "tests_warned": "integer",
    "contacts_synced": "bigint",
    "api_calls": "bigint",
    "message": "varchar",
}


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: the UTC start time plus a few random hex digits."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)


@dataclass
class RunRecord:
    run_id: str
    started_at: datetime = field(default_factory=utc_now)
    ended_at: datetime | None = None
    status: str = "running"
    exit_code: int | None = None
    dry_run: bool = False
    steps: dict[str, StepResult] = field(default_factory=dict)
    message: str = ""

    def metric(self, name: str) -> int:
        return sum(step.metrics.get(name, 0) for step in self.steps.values())

    def row(self) -> dict[str, Any]:
        """One `nightly.runs` row."""
        return {
            "run_id": self.run_id, "started_at": self.started_at, "ended_at": self.ended_at,
            "status": self.status, "exit_code": self.exit_code, "dry_run": self.dry_run,
            **{f"{name}_status": self.steps[name].status if name in self.steps else None
               for name in STEP_NAMES},
            "rows_loaded": self.metric("rows_loaded"),
            "models_built": self.metric("models_built"),
            "tests_passed": self.metric("tests_passed"),
            "tests_failed": self.metric("tests_failed"),
            "tests_warned": self.metric("tests_warned"),
            "contacts_synced": self.metric("contacts_synced"),
            "api_calls": self.metric("api_calls"),
            "message": self.message,
        }

    def summary(self) -> dict[str, Any]:
        """The JSON summary: the row plus each step's details."""
        row = {k: (v.isoformat() + "Z" if isinstance(v, datetime) else v)
               for k, v in self.row().items()}
        return {**row, "steps": {name: step.as_dict() for name, step in self.steps.items()}}


# -- the table --------------------------------------------------------------------------------

def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(f"create table if not exists {TABLE} ({columns})")


def upsert(con: duckdb.DuckDBPyConnection, record: RunRecord) -> None:
    row = record.row()
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"delete from {TABLE} where run_id = ?", [record.run_id])
    con.execute(f"insert into {TABLE} ({names}) values ({marks})", list(row.values()))


def begin(working: Path, record: RunRecord) -> None:
    """Record the run as started, and any run still `running` as killed (we hold the lock)."""
    working.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(working)) as con:
        ensure_table(con)
        con.execute(f"update {TABLE} set status = 'killed', message = 'the run was killed "
                    "before it finished' where status = 'running'")
        upsert(con, record)


def untested_build(working: Path, run_id: str) -> str | None:
    """Why the marts on disk may not have passed their tests, or None.

    From the dbt invocations the project's hooks record (macros/dbt_invocations.sql; the
    nightly's builds and those run by hand alike): no full build has succeeded yet, or a
    model-writing invocation after the newest successful one failed, did not finish, or wrote
    models without testing them. A warehouse from before those records: the newest earlier run
    whose build ran did not end `ok` (it failed, or was killed; dbt writes a model before
    testing it). Called after `begin`, which made the table."""
    with duckdb.connect(str(working), read_only=True) as con:
        if _has_invocations(con):
            return _unsafe_invocation(con)
        row = con.execute(
            f"select run_id, coalesce(build_status, status) from {TABLE} where run_id <> ? "
            f"and coalesce(build_status, '') not in ('skipped', 'blocked') "
            f"order by started_at desc limit 1", [run_id]).fetchone()
    if row is None or row[1] == "ok":
        return None
    return (f"the marts were last built by run {row[0]}, whose build ended "
            f"'{row[1]}': run the build step first (it is not selected)")


def _has_invocations(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute("select count(*) from information_schema.tables where "
                        "table_schema = 'main' and table_name = 'dbt_invocations'").fetchone()
    return bool(found and found[0])


def _unsafe_invocation(con: duckdb.DuckDBPyConnection) -> str | None:
    """The reason the marts are not the tested output of a build, from dbt_invocations."""
    rows = con.execute(
        "select command, scope, invocation_id, status, started_at from main.dbt_invocations "
        "where started_at >= coalesce((select max(started_at) from main.dbt_invocations "
        "where scope = 'full' and status = 'success'), timestamp '1970-01-01') "
        "order by started_at desc").fetchall()
    oldest = rows[-1] if rows else None  # the newest successful full build, if any
    if oldest is None or (oldest[1], oldest[3]) != ("full", "success"):
        return ("no complete dbt build has succeeded on this warehouse yet: run the build step "
                "first (it is not selected)")
    for command, _, invocation_id, status, started in rows:
        if status != "success":
            why = {"running": " (killed, or still running)",
                   "untested": " (its models were written without their tests)"}.get(status, "")
            return (f"the marts were written by `dbt {command}` (invocation {invocation_id}, "
                    f"started {started:%Y-%m-%d %H:%M:%S} UTC), which ended '{status}'{why}, "
                    "after the last complete build: run the build step first (it is not "
                    "selected)")
    return None


def finish(working: Path, record: RunRecord) -> None:
    with duckdb.connect(str(working)) as con:
        ensure_table(con)
        upsert(con, record)


def write_summary(record: RunRecord, last_run: Path, run_dir: Path) -> None:
    """Write both summaries atomically (a scheduler may read last_run.json at any moment)."""
    text = json.dumps(record.summary(), indent=2, default=str)
    for path in (run_dir / "summary.json", last_run):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
