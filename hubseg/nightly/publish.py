"""Publishing for BI: a copy of the marts file, renamed into place.

DuckDB lets one process write a file, and a process holding a file open blocks writers. So BI
never opens the working warehouse: it reads the PUBLISHED file, which no process ever writes in
place. After a passing build, the nightly writes a complete new database under a temporary
name beside the published one (same directory, so same filesystem), closes and fsyncs it,
then `os.replace`s it onto the published path. A rename is atomic: a reader opening the file
gets last night's complete database or tonight's, never a mix; a reader that already had the
old file open keeps reading its (unlinked) inode undisturbed; and the nightly never waits on
any reader. Readers must open it read-only (`duckdb.connect(path, read_only=True)`).

Contents: schema `marts` (everything dbt built there), `nightly.runs` (the run history) and
`nightly.publication` (which run published it, when, and each table's row count — so a reader
can check it sees one consistent state).

dbt builds the marts in a file of their own (`hubseg/marts_file.py`), so the new database
starts as a byte copy of that file, which nothing writes after the build: the copy runs in a
thread while the sync (which only reads the marts) talks to HubSpot. The history and the
manifest are written into the copy once the sync has ended, so they record its outcome.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import duckdb

from hubseg.marts_file import MARTS_SCHEMA, marts_path, marts_tables, quote_literal, wal_path
from hubseg.nightly.history import RunRecord, ensure_table, upsert

SOURCE_ALIAS = "working"
COPY_CHUNK = 16 * 1024 * 1024


class Publication:
    """One publication in two halves: `Publication(...)` starts copying the marts file beside
    the published one; `complete(record)` adds the run history and swaps the copy in."""

    def __init__(self, working: Path, published: Path, run_id: str) -> None:
        self.working, self.published = working, published
        self.tmp = published.with_name(f".{published.name}.{run_id}.tmp")
        marts = marts_path(working)
        if not marts.exists():
            raise RuntimeError(f"no marts to publish ({marts} does not exist): run the dbt "
                               "build first")
        _settle(marts)
        published.parent.mkdir(parents=True, exist_ok=True)
        # A killed run's copy (the nightly lock means no other publication is running).
        for stale in published.parent.glob(f".{published.name}.*.tmp*"):
            _remove(stale)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish-copy")
        self._copy: Future[float] = self._pool.submit(_timed_copy, marts, self.tmp)

    def wait_copied(self, timeout: float | None = None) -> float:
        """Block until the copy is done; the seconds it took (raises what it raised)."""
        return self._copy.result(timeout)

    def complete(self, record: RunRecord) -> dict[str, int]:
        """Finish the copy, write the history and manifest, fsync, rename; row counts."""
        try:
            self.wait_copied()
            with duckdb.connect(str(self.tmp)) as con:
                counts = _count_marts(con)
                if not counts:
                    raise RuntimeError("the marts file has no `marts` tables to publish: run "
                                       "the dbt build first")
                con.execute(f"attach '{quote_literal(self.working)}' as {SOURCE_ALIAS} (read_only)")
                _copy_history(con, record)
                _write_manifest(con, record.run_id, counts)
                con.execute(f"detach {SOURCE_ALIAS}")
                con.execute("checkpoint")  # everything in the main file: no WAL travels with it
            _fsync(self.tmp)
            os.replace(self.tmp, self.published)
            _fsync(self.published.parent)
            return counts
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Drop the copy (if the run never reaches `complete`); the published file stays."""
        self._pool.shutdown(wait=True)
        _remove(self.tmp)
        _remove(wal_path(self.tmp))


def publish(working: Path, published: Path, record: RunRecord) -> dict[str, int]:
    """Publish the marts of `working` (and history, with `record` as its latest row) in one go."""
    return Publication(working, published, record.run_id).complete(record)


def _timed_copy(source: Path, dest: Path) -> float:
    """Copy under a shared lock of the kind DuckDB takes: readers (the sync's read-only
    attach) share it, and a process writing the file (a dbt run by hand) makes the copy fail
    instead of catching the file half-written."""
    started = time.monotonic()
    with source.open("rb") as src:
        try:
            fcntl.lockf(src, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise RuntimeError(f"{source} is open for writing in another process (a dbt run?): "
                               "publish again once it has finished") from None
        with dest.open("wb") as dst:
            shutil.copyfileobj(src, dst, COPY_CHUNK)
    return time.monotonic() - started


def _settle(marts: Path) -> None:
    """A marts file left with a write-ahead log (dbt killed before it closed) is checkpointed
    first: the byte copy must hold every change, and nothing else may travel with it."""
    if wal_path(marts).exists():
        with duckdb.connect(str(marts)) as con:
            con.execute("checkpoint")


def _count_marts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {f"{MARTS_SCHEMA}.{t}": _count(con, f'{MARTS_SCHEMA}."{t}"')
            for t in marts_tables(con)}


def _copy_history(con: duckdb.DuckDBPyConnection, record: RunRecord) -> None:
    con.execute("drop table if exists nightly.runs")
    ensure_table(con)
    has_history = con.execute(
        "select count(*) from duckdb_tables() where database_name = ? and schema_name = "
        "'nightly' and table_name = 'runs'", [SOURCE_ALIAS]).fetchone()
    if has_history and has_history[0]:
        con.execute(f"insert into nightly.runs select * from {SOURCE_ALIAS}.nightly.runs "
                    "where run_id <> ?", [record.run_id])
    upsert(con, record)


def _write_manifest(con: duckdb.DuckDBPyConnection, run_id: str, counts: dict[str, int]
                    ) -> None:
    con.execute("create or replace table nightly.publication (run_id varchar, "
                "published_at timestamp, table_name varchar, row_count bigint)")
    con.executemany("insert into nightly.publication values "  # UTC, as nightly.runs
                    "(?, current_timestamp at time zone 'UTC', ?, ?)",
                    [[run_id, table, n] for table, n in counts.items()])


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"select count(*) from {name}").fetchone()
    return int(row[0]) if row else 0


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk, so a crash cannot leave a renamed empty file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def open_published(path: Path) -> duckdb.DuckDBPyConnection:
    """How every reader (the report, BI, tests) opens the published file: read-only."""
    if not path.exists():
        raise FileNotFoundError(f"no published warehouse at {path}: run `hubseg nightly` first")
    return duckdb.connect(str(path), read_only=True)

