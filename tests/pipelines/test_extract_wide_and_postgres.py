"""Portability and scale edges: 1,000 custom properties, and PostgreSQL as the destination."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from sandbox.server.process import RunningServer, start_server
from tests.pipelines.conftest import (
    Contents,
    Warehouse,
    extract,
    query,
    requests_seen,
)
from tests.postgres import PostgresServer


@pytest.fixture(scope="module")
def wide_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The small portal with 1,000 extra custom contact properties."""
    from sandbox.portal.generate import generate

    path = tmp_path_factory.mktemp("wide") / "portal.sqlite"
    generate(path, preset="small", seed=7, anchor="2026-11-01", custom_properties=1000)
    with start_server(path) as server:
        yield server


def test_a_thousand_custom_properties_load_without_414(wide_server: RunningServer,
                                                       warehouse: Warehouse) -> None:
    report = extract(wide_server, warehouse, resources=("contacts", "properties"))
    statuses = {r["status"] for r in requests_seen(wide_server)}
    assert statuses == {200}
    stats = wide_server.admin("GET", "stats").json()
    defined = stats["properties"]["contacts"]
    assert defined > 1000
    columns = query(warehouse.duckdb, "select count(*) from information_schema.columns "
                    "where table_schema = 'hubspot' and table_name = 'contacts' "
                    "and column_name like 'property\\_%' escape '\\'")
    assert columns == [(defined,)]
    counts = stats["objects"]["contacts"]
    pages = math.ceil(counts["live"] / 100) + max(1, math.ceil(counts["archived"] / 100))
    chunks, remainder = divmod(report.calls["contacts"], pages)
    assert remainder == 0
    assert chunks > 1  # the property list was split, one request per chunk per page
    assert filled_per_property(warehouse.duckdb) == portal_filled_per_property(wide_server)


def filled_per_property(duckdb_path: Path) -> dict[str, int]:
    names = [r[0] for r in query(duckdb_path, "select column_name from information_schema."
                                 "columns where table_schema = 'hubspot' and table_name = "
                                 "'contacts' and column_name like 'property\\_%' escape '\\'")]
    counts = query(duckdb_path, "select " + ", ".join(f'count("{n}")' for n in names)
                   + " from hubspot.contacts")[0]
    return {n.removeprefix("property_"): c for n, c in zip(names, counts, strict=True)}


def portal_filled_per_property(server: RunningServer) -> dict[str, int]:
    """Non-null values per contact property, straight from the portal's store."""
    con = sqlite3.connect(f"file:{server.store}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("select name from properties where object_type = "
                                           "'contacts' and archived = 0")]
        counts = con.execute("select " + ", ".join(
            f"count(json_extract(props, '$.\"{n}\"'))" for n in names)
            + " from objects where object_type = 'contacts'").fetchone()
    finally:
        con.close()
    return dict(zip(names, counts, strict=True))


def test_postgres_destination_gets_the_same_rows(
        shared_server: RunningServer, postgres_server: PostgresServer, tmp_path: Path,
        clean_contents: Contents, monkeypatch: pytest.MonkeyPatch) -> None:
    # dlt insists on a password; the test cluster trusts local connections and ignores it.
    pg = postgres_server
    url = f"postgresql://{pg.user}:unused@{pg.host}:{pg.port}/{pg.dbname}"
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
    extract(shared_server, Warehouse(tmp_path / "pg"), destination="postgres")
    with psycopg2.connect(postgres_server.url) as con, con.cursor() as cur:
        counts = {}
        for table in clean_contents:
            cur.execute(f"select count(*) from hubspot.{table}")
            counts[table] = cur.fetchone()[0]
        cur.execute("select distinct data_type from information_schema.columns where "
                    "table_schema = 'hubspot' and table_name = 'contacts' "
                    "and column_name like 'property\\_%'")
        property_types = {row[0] for row in cur.fetchall()}
    assert counts == {table: len(rows) for table, rows in clean_contents.items()}
    assert property_types == {"character varying"}
