"""A nightly killed mid-way, then rerun, ends where an uninterrupted nightly ends; while it
runs, a second nightly is refused."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import duckdb
import pytest

from hubseg.nightly.lock import read_owner
from hubseg.nightly.steps import EXIT_LOCKED, EXIT_OK
from tests.nightly.conftest import Loop, mart_snapshot, start_loop

# Whole nights (extract + dbt build + sync) on a shared 2-core machine: more than the
# suite's default 600 s per test when the machine is busy.
pytestmark = pytest.mark.timeout(1800)


def wait_for(condition: object, what: str, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_killed_nightly_reruns_to_the_uninterrupted_state(small_portal: Path,
                                                          tmp_path: Path) -> None:
    killed = start_loop(small_portal, tmp_path / "killed")
    reference = start_loop(small_portal, tmp_path / "reference")
    try:
        as_of = ("--as-of-date", "2026-11-01")
        first = killed.start(*as_of)
        run_id: dict[str, str] = {}

        def building() -> bool:
            run_id.update({k: str(v) for k, v in read_owner(killed.layout.lock).items()})
            rid = run_id.get("run_id")
            return bool(rid) and (killed.layout.run_dir(rid) / "build.log").exists()

        wait_for(building, "the first nightly to reach dbt build")
        refused = killed.run(*as_of)
        assert refused.returncode == EXIT_LOCKED
        assert run_id["run_id"] in refused.stderr
        first.send_signal(signal.SIGKILL)
        first.wait()
        # The scheduler's view after the kill: this run, still `running`, not the one before.
        summary = json.loads(killed.layout.last_run.read_text())
        assert (summary["run_id"], summary["status"]) == (run_id["run_id"], "running")

        rerun = killed.run(*as_of)
        assert rerun.returncode == EXIT_OK, rerun.stdout + rerun.stderr
        uninterrupted = reference.run(*as_of)
        assert uninterrupted.returncode == EXIT_OK, uninterrupted.stdout + uninterrupted.stderr

        assert mart_snapshot(killed.layout.published) == \
            mart_snapshot(reference.layout.published)
        assert _owned_values(killed) == _owned_values(reference)
        with duckdb.connect(str(killed.layout.working), read_only=True) as con:
            statuses = dict(con.execute("select run_id, status from nightly.runs").fetchall())
        assert statuses[run_id["run_id"]] == "killed"
    finally:
        killed.server.stop()
        reference.server.stop()


def _owned_values(loop: Loop) -> list[tuple[str, str, str]]:
    """What the write-back left in HubSpot: the final value of every property written."""
    final: dict[tuple[str, str], str] = {}
    for write in loop.writes():
        final[(str(write["objectId"]), write["property"])] = write["newValue"]
    return sorted((obj, prop, value) for (obj, prop), value in final.items())
