"""dbt gates the write-back: an error-severity test failure stops the run before the sync;
a warning does not; a failing build's records hold no value its errors quoted."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hubseg.nightly.steps import EXIT_BUILD, EXIT_OK
from tests.nightly.conftest import Loop, copy_project, portal_date

# Whole nights (extract + dbt build + sync) on a shared 2-core machine: more than the
# suite's default 600 s per test when the machine is busy.
pytestmark = pytest.mark.timeout(1800)

# A singular test failing only when asked (var `sabotage`), and one that always warns.
SABOTAGE = "select 1 as broken where {{ var('sabotage', false) }}\n"
WARNING = "{{ config(severity='warn') }}\nselect 1 as suspicious\n"


def sabotaged_project(tmp_path: Path) -> Path:
    project = copy_project(tmp_path / "project")
    tests = project / "tests" / "dbt"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "zz_nightly_sabotage.sql").write_text(SABOTAGE)
    (tests / "zz_nightly_warning.sql").write_text(WARNING)
    return project


def test_failing_test_blocks_the_sync_and_the_publication(loop: Loop, tmp_path: Path) -> None:
    project = sabotaged_project(tmp_path)
    failed = loop.run("--project-dir", str(project), "--vars", json.dumps({"sabotage": True}))
    assert failed.returncode == EXIT_BUILD, failed.stdout + failed.stderr
    assert "zz_nightly_sabotage" in failed.stderr
    summary = loop.last_run()
    assert summary["build_status"] == "failed"
    assert summary["tests_failed"] >= 1
    assert (summary["sync_status"], summary["publish_status"]) == ("blocked", "blocked")
    assert loop.writes() == []  # nothing reached HubSpot
    assert not loop.layout.published.exists()  # nor BI
    # Leaving the build out does not get round the gate: the marts on disk failed their tests.
    unbuilt = loop.run("--project-dir", str(project), "--only", "sync,publish")
    assert unbuilt.returncode == EXIT_BUILD, unbuilt.stdout + unbuilt.stderr
    summary = loop.last_run()
    assert (summary["sync_status"], summary["publish_status"]) == ("blocked", "blocked")
    assert "run the build step first" in summary["message"]
    assert loop.writes() == []
    assert not loop.layout.published.exists()

    warned = loop.run("--project-dir", str(project), "--skip", "extract")
    assert warned.returncode == EXIT_OK, warned.stdout + warned.stderr
    summary = loop.last_run()
    assert summary["tests_warned"] >= 1
    assert summary["build_status"] == "ok"
    assert summary["sync_status"] != "blocked"
    assert summary["publish_status"] == "ok"


def test_a_build_that_failed_by_hand_blocks_the_next_sync_and_publication(
        loop: Loop, tmp_path: Path) -> None:
    """A good night, then `dbt build` run by hand on the same warehouse fails its tests (dbt
    wrote its models first): a night that does not build must not sync or publish them."""
    project = sabotaged_project(tmp_path)
    night = loop.run("--project-dir", str(project))
    assert night.returncode == EXIT_OK, night.stdout + night.stderr
    published = loop.layout.published.stat().st_mtime_ns
    writes = len(loop.writes())
    by_hand = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "build", "--project-dir", str(project),
         "--profiles-dir", str(project), "--target-path", str(tmp_path / "target"),
         "--log-path", str(tmp_path / "logs"), "--vars", json.dumps({"sabotage": True})],
        env={**loop.env, "HUBSEG_AS_OF_DATE": portal_date(loop.server)}, cwd=project,
        text=True, capture_output=True, timeout=900, check=False)
    assert by_hand.returncode == 1, by_hand.stdout[-3000:]
    unbuilt = loop.run("--project-dir", str(project), "--only", "sync,publish")
    assert unbuilt.returncode == EXIT_BUILD, unbuilt.stdout + unbuilt.stderr
    summary = loop.last_run()
    assert (summary["sync_status"], summary["publish_status"]) == ("blocked", "blocked")
    assert "`dbt build`" in summary["message"]
    assert "ended 'failed'" in summary["message"]
    assert len(loop.writes()) == writes
    assert loop.layout.published.stat().st_mtime_ns == published


def test_a_value_quoted_by_a_failing_build_is_kept_out_of_every_record(loop: Loop) -> None:
    """A date property holding a name and a phone number fails the build (DuckDB's error
    quotes the value): the run reports the failure, and nothing it writes holds the value."""
    value = "Marguerite Quastel +1 555 0142"
    with sqlite3.connect(loop.server.store) as con:
        con.execute("update objects set props = json_set(props, '$.newsletter_signup_date', ?) "
                    "where object_type = 'contacts' and id = (select min(id) from objects "
                    "where object_type = 'contacts' and archived = 0)", [value])
    failed = loop.run()
    assert failed.returncode == EXIT_BUILD, failed.stdout + failed.stderr
    assert "Conversion Error" in (loop.layout.runs_dir / loop.last_run()["run_id"]
                                  / "build.log").read_text()  # the error itself is kept
    written = [failed.stdout, failed.stderr] + [
        path.read_text(errors="replace") for path in loop.layout.runs_dir.rglob("*")
        if path.is_file()]
    for part in ("Marguerite", "Quastel", "555 0142"):
        assert not any(part in text for text in written), part
