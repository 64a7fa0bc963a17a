"""Helpers for the nightly tests: a sandbox server per test, and `hubseg nightly` as a user
(or a scheduler) runs it — a child process whose exit code and output we check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hubseg.marts_file import marts_path
from hubseg.nightly.layout import Layout
from hubseg.nightly.local import local_layout, portal_date, sandbox_env
from sandbox.server.process import RunningServer, start_server

REPO = Path(__file__).resolve().parents[2]
READER = Path(__file__).with_name("reader.py")
AS_OF = "as_of_date"


@dataclass
class Loop:
    """One local loop: a server on a private portal copy and a directory for everything else."""

    server: RunningServer
    root: Path

    @property
    def layout(self) -> Layout:
        return local_layout(self.root)

    @property
    def env(self) -> dict[str, str]:
        return {**sandbox_env(self.server, self.root),
                "HUBSEG_PUBLISHED": str(self.layout.published),
                "HUBSEG_RUNS_DIR": str(self.layout.runs_dir)}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "hubseg", "nightly", "--as-of-date",
                portal_date(self.server), *args]

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), cwd=REPO, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), cwd=REPO, env=self.env, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def last_run(self) -> dict[str, Any]:
        return json.loads(self.layout.last_run.read_text())

    def writes(self) -> list[dict[str, Any]]:
        """Every property a client changed in the sandbox (its whole write log, page by page)."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.server.admin("GET", "writes", params={"after": len(rows) and
                                                              rows[-1]["seq"]}).json()
            if not page["writes"]:
                return rows
            rows += page["writes"]


@pytest.fixture
def loop(portal_copy: Path, tmp_path: Path) -> Iterator[Loop]:
    with start_server(portal_copy) as server:
        yield Loop(server, tmp_path / "loop")


def copy_project(dest: Path) -> Path:
    """A private copy of the dbt project under test (HUBSEG_DBT_PROJECT_DIR or the repository)
    that a test may sabotage."""
    source = Path(os.environ.get("HUBSEG_DBT_PROJECT_DIR") or REPO)
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(source / name, dest / name)
    for name in ("models", "macros", "seeds", "tests/dbt"):
        if (source / name).exists():
            shutil.copytree(source / name, dest / name)
    return dest


def offline_env(root: Path) -> dict[str, str]:
    """Environment for runs that never reach HubSpot (publish-only, lock tests)."""
    layout = local_layout(root)
    return {"PATH": "/usr/bin:/bin", "HOME": str(root), "HUBSEG_WAREHOUSE": str(layout.working),
            "HUBSEG_PUBLISHED": str(layout.published), "HUBSEG_RUNS_DIR": str(layout.runs_dir)}


def run_nightly_cli(root: Path, *args: str, timeout: float = 120, **env: str
                    ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hubseg", "nightly", *args], cwd=REPO,
                          env={**offline_env(root), **env}, text=True, capture_output=True,
                          timeout=timeout, check=False)


def make_marts(working: Path, members: int, run_tag: str = "") -> None:
    """A hand-made warehouse (working file and marts file) with the two segment marts the
    readers check."""
    import duckdb

    working.parent.mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(working)).close()
    with duckdb.connect(str(marts_path(working))) as con:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.contact_segments as select "
                    "'c' || i as contact_id, 'seg' || (i % 3) as segment_key "
                    f"from range({members}) t(i)")
        con.execute("create or replace table marts.segments as select segment_key, "
                    f"count(*) as member_count, '{run_tag}' as tag from marts.contact_segments "
                    "group by 1")


def start_loop(small_portal: Path, root: Path) -> Loop:
    """A loop on its own copy of the session's small portal (for module-scoped fixtures)."""
    root.mkdir(parents=True, exist_ok=True)
    store = root / "portal.sqlite"
    shutil.copyfile(small_portal, store)
    return Loop(start_server(store), root)


# Which load brought a row, and when a dbt run wrote it, differ between any two runs by design:
# not part of the state.
LOAD_METADATA = ("load_id", "last_load_id", "_dlt_load_id", "_dlt_id", "dbt_updated_at")


def mart_snapshot(published: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every published mart's rows, sorted: two equal snapshots mean the same final state."""
    import duckdb

    with duckdb.connect(str(published), read_only=True) as con:
        tables = [t for (t,) in con.execute("select table_name from duckdb_tables() "
                                            "where schema_name = 'marts' order by 1").fetchall()]
        excluded = ", ".join(f"'{c}'" for c in LOAD_METADATA)
        return {t: con.execute(f'select columns(lambda c: c not in ({excluded})) '
                               f'from marts."{t}" order by all').fetchall()
                for t in tables}


@contextmanager
def readers(published: Path, tmp: Path) -> Iterator[dict[str, dict[str, Any]]]:
    """Run two BI stand-ins during the block — one reconnecting per query, one holding its
    connection — and put their findings (by mode) in the dict."""
    stop = tmp / "stop-readers"
    procs = {mode: subprocess.Popen([sys.executable, str(READER), mode, str(published),
                                     str(stop), str(tmp / f"reader-{mode}.json")], cwd=REPO)
             for mode in ("loop", "hold")}
    findings: dict[str, dict[str, Any]] = {}
    try:
        yield findings
    finally:
        stop.touch()
        for mode, proc in procs.items():
            proc.wait(timeout=120)
            findings[mode] = json.loads((tmp / f"reader-{mode}.json").read_text())


def assert_clean_reads(seen: dict[str, dict[str, Any]], runs: int) -> None:
    """Zero errors, only whole snapshots; the loop saw new nights, the holder kept one."""
    for findings in seen.values():
        assert findings["error_count"] == 0, findings["errors"]
        assert findings["inconsistent"] == []
    assert len(seen["loop"]["runs"]) >= min(runs, 2)  # it really read across publications
    assert len(seen["hold"]["runs"]) == 1  # an open connection keeps its snapshot
