"""Publishing: BI readers see one complete state at a time, never an error, never block us."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from hubseg.nightly.local import local_layout
from hubseg.nightly.steps import EXIT_OK, EXIT_PUBLISH
from tests.nightly.conftest import assert_clean_reads, make_marts, readers, run_nightly_cli


def test_publish_copies_the_marts_and_the_run_history(tmp_path: Path) -> None:
    layout = local_layout(tmp_path)
    make_marts(layout.working, 90)
    result = run_nightly_cli(tmp_path, "--only", "publish")
    assert result.returncode == EXIT_OK, result.stderr
    run_id = json.loads(layout.last_run.read_text())["run_id"]
    with duckdb.connect(str(layout.published), read_only=True) as con:
        assert con.execute("select count(*) from marts.contact_segments").fetchone() == (90,)
        runs = con.execute("select run_id, status, publish_status from nightly.runs").fetchall()
        manifest = con.execute("select distinct run_id from nightly.publication").fetchall()
    assert runs == [(run_id, "ok", "ok")]
    assert manifest == [(run_id,)]
    assert not list(layout.published.parent.glob(".*.tmp"))  # no temporary file left


def test_readers_see_whole_snapshots_while_runs_publish(tmp_path: Path) -> None:
    layout = local_layout(tmp_path)
    with readers(layout.published, tmp_path) as seen:
        for night in range(4):
            make_marts(layout.working, 300 + 150 * night, run_tag=str(night))
            result = run_nightly_cli(tmp_path, "--only", "publish")
            assert result.returncode == EXIT_OK, result.stderr
    assert_clean_reads(seen, runs=4)
    with duckdb.connect(str(layout.published), read_only=True) as con:
        assert con.execute("select count(*) from nightly.runs").fetchone() == (4,)


def test_failed_publish_keeps_the_previous_file(tmp_path: Path) -> None:
    layout = local_layout(tmp_path)
    make_marts(layout.working, 60)
    assert run_nightly_cli(tmp_path, "--only", "publish").returncode == EXIT_OK
    before = layout.published.read_bytes()
    with duckdb.connect(str(layout.working)) as con:
        con.execute("drop schema marts cascade")  # nothing left to publish
    result = run_nightly_cli(tmp_path, "--only", "publish")
    assert result.returncode == EXIT_PUBLISH
    assert "no `marts` tables" in result.stderr
    assert layout.published.read_bytes() == before
