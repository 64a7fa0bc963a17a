"""Helpers for the dbt project's tests: a private warehouse per test module, the real
`hubseg extract` command against a sandbox server, and dbt run as a command.

dbt runs in a subprocess with its own target and log directories, so tests in parallel
workers (and a developer's own `target/`) never share state.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubseg.marts_file import connect_working, marts_path
from sandbox.server.process import RunningServer
from sandbox.store import connect, portal_now_ms

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Environment of the outer shell that would redirect a run elsewhere.
FOREIGN_ENV = ("HUBSPOT_", "HUBSEG_", "SOURCES__", "DESTINATION__", "DBT_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def portal_date(store: Path) -> str:
    """The portal's current date (UTC): what `as_of_date` is for a run on it."""
    con = connect(store, readonly=True)
    try:
        now_ms = portal_now_ms(con)
    finally:
        con.close()
    return dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC).date().isoformat()


@dataclass
class Warehouse:
    """A warehouse directory: the DuckDB file, dlt's state, dbt's target and logs."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)  # e.g. the PostgreSQL target

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def duckdb(self) -> Path:
        return self.root / "hubseg.duckdb"

    def copy_to(self, other: Warehouse) -> None:
        """Both DuckDB files (working and marts), as they are."""
        for source in (self.duckdb, marts_path(self.duckdb)):
            shutil.copyfile(source, other.root / source.name)

    def base_env(self) -> dict[str, str]:
        return clean_env(HUBSEG_WAREHOUSE=str(self.duckdb),
                         HUBSEG_DLT_DIR=str(self.root / "dlt"), **self.env)

    def extract(self, server: RunningServer, *args: str) -> None:
        """`hubseg extract` against the sandbox (no rate limiter, no index-lag margin)."""
        env = self.base_env()
        env.update(HUBSPOT_BASE_URL=server.base_url, HUBSPOT_ACCESS_TOKEN=server.token,
                   HUBSPOT_TIER="unlimited", SOURCES__HUBSPOT__INDEX_LAG_SECONDS="0")
        result = subprocess.run([sys.executable, "-m", "hubseg", "extract", "--quiet", *args],
                                cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr

    def dbt(self, *args: str, as_of: str, target: str = "duckdb", check: bool = True,
            **dbt_vars: Any) -> subprocess.CompletedProcess[str]:
        """Run a dbt command on this warehouse; fail the test with dbt's output if it fails
        (unless `check` is false)."""
        cmd = [str(BIN / "dbt"), *args, "--project-dir", str(REPO), "--profiles-dir", str(REPO),
               "--target", target, "--vars", json.dumps({"as_of_date": as_of, **dbt_vars})]
        env = self.base_env()
        env.update(DBT_TARGET_PATH=str(self.root / f"target-{target}"),
                   DBT_LOG_PATH=str(self.root / "logs"))
        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=1800)
        assert result.returncode == 0 or not check, result.stdout[-6000:] + result.stderr[-2000:]
        return result

    def run_results(self, target: str = "duckdb") -> list[dict[str, Any]]:
        path = self.root / f"target-{target}" / "run_results.json"
        return json.loads(path.read_text())["results"]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        con = connect_working(self.duckdb, read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()

    def table(self, relation: str) -> list[dict[str, Any]]:
        con = connect_working(self.duckdb, read_only=True)
        try:
            cursor = con.execute(f"select * from {relation}")
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            con.close()

    def schema_contents(self, schema: str) -> dict[str, list[tuple[Any, ...]]]:
        """Every table of `schema`, rows sorted: for comparing two warehouses.

        `dbt_updated_at` is left out: it records when a run wrote the row, which two
        warehouses built at different times never share.
        """
        con = connect_working(self.duckdb, read_only=True)
        try:
            tables = [r[0] for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = ? and table_type = 'BASE TABLE'", [schema]).fetchall()]
            return {t: sorted(con.execute(
                f"select columns(lambda c: c != 'dbt_updated_at') from {schema}.{t}"
            ).fetchall(), key=repr) for t in tables}
        finally:
            con.close()
