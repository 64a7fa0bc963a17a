"""Publishing for BI: copy the marts into a fresh DuckDB file and rename it into place.

DuckDB lets one process write a file, and a process holding a file open blocks writers. So BI
never opens the working warehouse: it reads the PUBLISHED file, which no process ever writes in
place. After a passing build, the nightly writes a complete new database under a temporary
name beside the published one (same directory, so same filesystem), closes and fsyncs it,
then `os.replace`s it onto the published path. A rename is atomic: a reader opening the file
gets last night's complete database or tonight's, never a mix; a reader that already had the
old file open keeps reading its (unlinked) inode undisturbed; and the nightly never waits on
any reader. Readers must open it read-only (`duckdb.connect(path, read_only=True)`).

Contents: schema `marts` (every table of the dbt `marts` schema), `nightly.runs` (the run
history) and `nightly.publication` (which run published it, when, and each table's row count —
so a reader can check it sees one consistent state).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import duckdb

from hubseg.nightly.history import RunRecord, ensure_table, upsert

MARTS_SCHEMA = "marts"
SOURCE_ALIAS = "working"


def publish(working: Path, published: Path, record: RunRecord) -> dict[str, int]:
    """Publish the working marts (and history, with `record` as its latest row); row counts."""
    published.parent.mkdir(parents=True, exist_ok=True)
    tmp = published.with_name(f".{published.name}.{record.run_id}.tmp")
    _remove(tmp)
    try:
        counts = _write_copy(working, tmp, record)
        _fsync(tmp)
        os.replace(tmp, published)
        _fsync(published.parent)
    finally:
        _remove(tmp)
    return counts


def _write_copy(working: Path, tmp: Path, record: RunRecord) -> dict[str, int]:
    with duckdb.connect(str(tmp)) as con:
        con.execute(f"attach '{_quote(working)}' as {SOURCE_ALIAS} (read_only)")
        counts = _copy_schema(con, MARTS_SCHEMA)
        _copy_history(con, record)
        _write_manifest(con, record.run_id, counts)
        con.execute(f"detach {SOURCE_ALIAS}")
        con.execute("checkpoint")  # everything in the main file: no WAL travels with it
    _remove(tmp.with_name(tmp.name + ".wal"))
    return counts


def _copy_schema(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, int]:
    tables = [name for (name,) in con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = ? "
        "union select view_name from duckdb_views() where database_name = ? "
        "and schema_name = ? and not internal order by 1",
        [SOURCE_ALIAS, schema, SOURCE_ALIAS, schema]).fetchall()]
    if not tables:
        raise RuntimeError(f"the working warehouse has no `{schema}` tables to publish: "
                           "run the dbt build first")
    con.execute(f"create schema {schema}")
    counts: dict[str, int] = {}
    for table in tables:
        name = f'{schema}."{table}"'
        con.execute(f"create table {name} as select * from {SOURCE_ALIAS}.{name}")
        counts[f"{schema}.{table}"] = _count(con, name)
    return counts


def _copy_history(con: duckdb.DuckDBPyConnection, record: RunRecord) -> None:
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
    con.execute("create table nightly.publication (run_id varchar, published_at timestamp, "
                "table_name varchar, row_count bigint)")
    con.executemany("insert into nightly.publication values (?, current_timestamp::timestamp, "
                    "?, ?)", [[run_id, table, n] for table, n in counts.items()])


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"select count(*) from {name}").fetchone()
    return int(row[0]) if row else 0


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


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

