"""The marts live in a DuckDB file of their own, beside the working warehouse.

The working warehouse (`hubseg.duckdb`) holds what dlt loads and what dbt builds on the way:
raw, staging, intermediate, seeds, and the sync's state. dbt writes the `marts` schema into a
second file, `<working stem>_marts.duckdb` (`hubseg_marts.duckdb`), attached to every dbt
session as the catalog `hubseg_marts` (see `profiles.yml`). That file is exactly what BI gets:
publishing it is a byte copy, and the copy can run while the sync, which only reads the marts,
writes its state to the working file.

A process reading the working warehouse attaches the marts file the same way and puts it on
DuckDB's search path, so `marts.dim_contacts` means the same table in Python, in dbt and in
the published file.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

MARTS_CATALOG = "hubseg_marts"  # the attach alias in profiles.yml; must match it
MARTS_SCHEMA = "marts"
SUFFIX = ".duckdb"


def marts_path(working: Path) -> Path:
    """`hubseg.duckdb` → `hubseg_marts.duckdb` (the rule profiles.yml applies too)."""
    name = working.name.removesuffix(SUFFIX)
    return working.with_name(f"{name}_marts{SUFFIX}")


def attach_marts(con: duckdb.DuckDBPyConnection, working: Path, *,
                 read_only: bool = True) -> bool:
    """Attach the marts file of `working` to `con` and resolve `marts.<table>` through it;
    False when dbt has not built it yet (readers then see a `marts` schema of the working file
    only: the sync's tests and benchmarks write their model there)."""
    path = marts_path(working)
    if not path.exists():
        return False
    mode = " (read_only)" if read_only else ""
    con.execute(f"attach if not exists '{quote_literal(path)}' as {MARTS_CATALOG}{mode}")
    # The working file's own schemas first: `hubspot.contacts` keeps meaning the raw table.
    con.execute(f"set search_path = '{quote_literal(_current_database(con))}.main,"
                f"{MARTS_CATALOG}.{MARTS_SCHEMA}'")
    return True


def _current_database(con: duckdb.DuckDBPyConnection) -> str:
    """The connection's own database as a quoted identifier (a file name may hold anything)."""
    row = con.execute("select current_database()").fetchone()
    name = str(row[0]) if row else "memory"
    return '"' + name.replace('"', '""') + '"'


def connect_working(working: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """The working warehouse with its marts attached (read-only: nobody but dbt writes them)."""
    con = duckdb.connect(str(working), read_only=read_only)
    try:
        attach_marts(con, working)
    except duckdb.Error:
        con.close()
        raise
    return con


def move_marts_out_of_working(working: Path) -> list[str]:
    """Upgrade a warehouse built before the marts had their own file: move its `marts` tables
    into the marts file, where dbt now builds them, so the incremental marts — above all the
    membership history, which cannot be rebuilt — carry on. Returns the tables moved.

    Safe to kill: the tables are copied in one transaction and dropped from the working file
    in a second one (DuckDB writes one file per transaction); a rerun after a kill between the
    two finds every table copied (same row counts) and only drops. A marts file that has other
    marts (dbt ran before the upgrade did) is never overwritten: that is an error for the user
    to resolve."""
    if not working.exists():
        return []
    with duckdb.connect(str(working)) as con:
        # Each table as it was declared: dbt contracts' NOT NULL included, which a `create
        # table as` would drop.
        definitions = dict(con.execute(
            "select table_name, sql from duckdb_tables() where database_name = "
            "current_database() and schema_name = ? order by 1", [MARTS_SCHEMA]).fetchall())
        tables = list(definitions)
        if not tables:
            return []
        con.execute(f"attach '{quote_literal(marts_path(working))}' as {MARTS_CATALOG}")
        main = _current_database(con)
        old = f"{main}.{MARTS_SCHEMA}"
        new = f"{MARTS_CATALOG}.{MARTS_SCHEMA}"
        already = marts_tables(con, f"'{MARTS_CATALOG}'")
        if already and not _copied(con, tables, old, new):
            raise RuntimeError(
                f"{working} still holds a `{MARTS_SCHEMA}` schema from before the marts moved "
                f"to {marts_path(working).name}, which has its own already: drop the old one "
                f"(`drop schema {MARTS_SCHEMA} cascade` on {working.name}) once you have "
                "copied anything you need from it")
        if not already:
            con.execute("begin")
            con.execute(f"create schema if not exists {new}")
            con.execute(f"use {MARTS_CATALOG}")  # the declarations name `marts.<table>`
            for table in tables:
                con.execute(definitions[table])
                con.execute(f'insert into {new}."{table}" select * from {old}."{table}"')
            con.execute(f"use {main}")
            con.execute("commit")
        con.execute(f"drop schema {old} cascade")
        con.execute(f"detach {MARTS_CATALOG}")
    return tables


def _copied(con: duckdb.DuckDBPyConnection, tables: list[str], old: str, new: str) -> bool:
    """Whether a previous, killed upgrade already copied every table (same row counts)."""
    count = 'select count(*) from {}."{}"'
    try:
        return all(con.execute(count.format(old, t)).fetchone() ==
                   con.execute(count.format(new, t)).fetchone() for t in tables)
    except duckdb.CatalogException:
        return False


def marts_tables(con: duckdb.DuckDBPyConnection, database: str = "current_database()"
                 ) -> list[str]:
    """The tables of schema `marts` in `database` (a SQL expression), by name."""
    return [t for (t,) in con.execute(
        f"select table_name from duckdb_tables() where database_name = {database} "
        "and schema_name = ? order by 1", [MARTS_SCHEMA]).fetchall()]


def wal_path(database: Path) -> Path:
    """DuckDB's write-ahead log of a database file."""
    return database.with_name(database.name + ".wal")


def quote_literal(value: str | Path) -> str:
    """The text of a SQL string literal, quotes doubled."""
    return str(value).replace("'", "''")
