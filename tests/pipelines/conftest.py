"""Helpers for the extractor tests: private warehouses, extract runs, warehouse contents.

Every test drives real sandbox servers over HTTP and loads a real DuckDB file (or PostgreSQL).
Runs happen either in-process (`extract`, for reports and speed) or as the `hubseg extract`
command in a subprocess (`extract_cli`, for exit codes, messages, and SIGKILL).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.extract import ExtractReport, run_extract
from sandbox.server.process import RunningServer

REPO = Path(__file__).resolve().parents[2]
# Fast retries: the sandbox's faults are fictitious, only the client's reaction matters.
FAST_RETRIES = {"backoff_initial": 0.05, "backoff_max": 1.0}


@dataclass(frozen=True)
class Warehouse:
    root: Path

    @property
    def duckdb(self) -> Path:
        return self.root / "hubseg.duckdb"

    @property
    def dlt_dir(self) -> Path:
        return self.root / "dlt"


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse")


def make_warehouse(tmp_path: Path, name: str) -> Warehouse:
    return Warehouse(tmp_path / name)


def extract(server: RunningServer, warehouse: Warehouse, *, full_refresh: bool = False,
            resources: tuple[str, ...] | None = None, **settings: Any) -> ExtractReport:
    """An in-process run against `server` (no rate limiter unless `tier` says otherwise)."""
    from hubseg.config import load_config
    from pipelines.hubspot.settings import RESOURCES

    overrides: dict[str, Any] = {"base_url": server.base_url, "access_token": server.token,
                                 "path": warehouse.duckdb, "dlt_dir": warehouse.dlt_dir,
                                 "tier": "unlimited", "index_lag_seconds": 0, **FAST_RETRIES,
                                 **settings}
    return run_extract(load_config(**overrides), resources=resources or RESOURCES,
                       full_refresh=full_refresh)


def cli_env(base_url: str, token: str, warehouse: Warehouse, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUBSPOT_", "HUBSEG_", "SOURCES__", "DESTINATION__"))}
    env.update({
        "HUBSPOT_BASE_URL": base_url, "HUBSPOT_ACCESS_TOKEN": token,
        "HUBSEG_WAREHOUSE": str(warehouse.duckdb), "HUBSEG_DLT_DIR": str(warehouse.dlt_dir),
        "HUBSPOT_TIER": "unlimited", "SOURCES__HUBSPOT__INDEX_LAG_SECONDS": "0",
        "SOURCES__HUBSPOT__BACKOFF_INITIAL": "0.05", "SOURCES__HUBSPOT__BACKOFF_MAX": "1",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def extract_cli(env: dict[str, str], *args: str, timeout: float = 600
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hubseg", "extract", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def spawn_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hubseg", "extract", "--quiet", *args],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


# -- what landed ----------------------------------------------------------------------------------

Contents = dict[str, list[tuple[Any, ...]]]
PARENT_KEYS = ("id", "contact_id", "object_type", "name")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'hubspot' "
        "and table_name = ? order by column_name", [table]).fetchall()]


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'hubspot' "
        "and not starts_with(table_name, '_dlt')").fetchall())


def warehouse_contents(path: Path) -> Contents:
    """Every table's rows without `_dlt_*` columns, sorted; child rows carry their parent's key
    (the `_dlt_parent_id` link is a random id, different in every load)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: Contents = {}
        for table in _tables(con):
            data = [c for c in _columns(con, table) if not c.startswith("_dlt")]
            if "__" in table:
                parent = table.rsplit("__", 1)[0]
                keys = [c for c in _columns(con, parent) if c in PARENT_KEYS]
                select = ", ".join([f'p."{k}"' for k in keys] + [f'c."{c}"' for c in data])
                sql = (f"select {select} from hubspot.{table} c join hubspot.{parent} p "
                       "on c._dlt_parent_id = p._dlt_id")
            else:
                sql = "select " + ", ".join(f'"{c}"' for c in data) + f" from hubspot.{table}"
            rows = con.execute(sql).fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def assert_same_contents(actual: Contents, expected: Contents) -> None:
    assert sorted(actual) == sorted(expected)
    for table in expected:
        missing = set(expected[table]) - set(actual[table])
        extra = set(actual[table]) - set(expected[table])
        summary = (f"{table}: {len(actual[table])} rows vs {len(expected[table])}; "
                   f"missing {list(missing)[:2]}, unexpected {list(extra)[:2]}")
        assert not missing, summary
        assert not extra, summary
        assert len(actual[table]) == len(expected[table]), summary  # no duplicates either


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def requests_seen(server: RunningServer) -> list[dict[str, Any]]:
    response = server.admin("GET", "requests")
    assert response.status_code == 200, response.text
    return response.json()["requests"]


def configure(server: RunningServer, **changes: Any) -> None:
    response = server.admin("PUT", "config", json=changes)
    assert response.status_code == 200, response.text


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def clean_load(shared_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Warehouse, ExtractReport]:
    """A fault-free full load of the small portal: what every resilient run must end up as."""
    target = Warehouse(tmp_path_factory.mktemp("clean"))
    return target, extract(shared_server, target)


@pytest.fixture(scope="session")
def clean_contents(clean_load: tuple[Warehouse, ExtractReport]) -> Contents:
    return warehouse_contents(clean_load[0].duckdb)
