"""Publishing: BI readers see one complete state at a time, never an error, never block us."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from hubseg.marts_file import connect_working, marts_path, wal_path
from hubseg.nightly.history import RunRecord
from hubseg.nightly.local import local_layout
from hubseg.nightly.publish import Publication, publish
from hubseg.nightly.steps import EXIT_OK, EXIT_PUBLISH
from tests.nightly.conftest import assert_clean_reads, make_marts, readers, run_nightly_cli


def test_publish_copies_the_marts_and_the_run_history(tmp_path: Path) -> None:
    layout = local_layout(tmp_path)
    make_marts(layout.working, 90)
    stale = layout.published.with_name(f".{layout.published.name}.killed-run.tmp")
    stale.write_bytes(b"a copy a killed run left behind")
    result = run_nightly_cli(tmp_path, "--only", "publish")
    assert result.returncode == EXIT_OK, result.stderr
    run_id = json.loads(layout.last_run.read_text())["run_id"]
    with duckdb.connect(str(layout.published), read_only=True) as con:
        assert con.execute("select count(*) from marts.contact_segments").fetchone() == (90,)
        runs = con.execute("select run_id, status, publish_status from nightly.runs").fetchall()
        manifest = con.execute("select distinct run_id from nightly.publication").fetchall()
    assert runs == [(run_id, "ok", "ok")]
    assert manifest == [(run_id,)]
    assert not list(layout.published.parent.glob(".*.tmp"))  # no temporary file left, ours
    # or the killed run's


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
    with duckdb.connect(str(marts_path(layout.working))) as con:
        con.execute("drop schema marts cascade")  # nothing left to publish
    result = run_nightly_cli(tmp_path, "--only", "publish")
    assert result.returncode == EXIT_PUBLISH
    assert "no `marts` tables" in result.stderr
    assert layout.published.read_bytes() == before


HOLD_FOR_WRITING = textwrap.dedent("""
    import sys
    import duckdb
    con = duckdb.connect(sys.argv[1])  # as a dbt run by hand holds the marts file
    print("holding", flush=True)
    sys.stdin.readline()
    con.close()
""")


def test_the_copy_refuses_a_marts_file_another_process_is_writing(tmp_path: Path) -> None:
    """A byte copy taken while a writer checkpoints could be half old, half new: it must fail
    and leave last night's file in place."""
    layout = local_layout(tmp_path)
    make_marts(layout.working, 50)
    publish(layout.working, layout.published, RunRecord("r1"))
    before = layout.published.read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_FOR_WRITING,
                               str(marts_path(layout.working))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        with pytest.raises(RuntimeError, match="open for writing in another process"):
            publish(layout.working, layout.published, RunRecord("r2"))
    finally:
        holder.communicate("\n", timeout=60)
    assert layout.published.read_bytes() == before
    assert not list(layout.published.parent.glob(".*.tmp*"))


HOLD_WORKING = textwrap.dedent("""
    import sys
    from pathlib import Path
    from hubseg.marts_file import connect_working
    con = connect_working(Path(sys.argv[1]), read_only=False)  # as the sync opens it
    con.execute("create schema if not exists reverse_etl")
    con.execute("create or replace table reverse_etl.held as select 1 as x")
    print("holding", flush=True)
    sys.stdin.readline()
    con.close()
""")


def test_the_copy_for_bi_runs_while_the_sync_holds_the_working_warehouse(tmp_path: Path
                                                                          ) -> None:
    """The nightly starts the publication before the sync: its copy of the marts must not need
    the working file, which the sync holds for writing (with the marts attached read-only)."""
    layout = local_layout(tmp_path)
    make_marts(layout.working, 120)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_WORKING, str(layout.working)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "holding\n"
        publication = Publication(layout.working, layout.published, "r1")
        publication.wait_copied(timeout=60)  # done while the working file is held
        with pytest.raises(duckdb.IOException):  # the lock the old publication tripped on
            duckdb.connect(str(layout.working), read_only=True)
    finally:
        holder.communicate("\n", timeout=60)
    counts = publication.complete(RunRecord("r1"))
    assert counts == {"marts.contact_segments": 120, "marts.segments": 3}
    with duckdb.connect(str(layout.published), read_only=True) as con:
        assert con.execute("select count(*) from marts.contact_segments").fetchone() == (120,)
        assert con.execute("select run_id from nightly.runs").fetchall() == [("r1",)]


def test_a_marts_file_left_with_a_write_ahead_log_is_published_whole(tmp_path: Path) -> None:
    """dbt killed before closing the marts file leaves its last changes in a `.wal` beside
    it; a byte copy of the file alone would lose them, so they are checkpointed first."""
    working = tmp_path / "working.duckdb"
    make_marts(working, 30)
    marts = marts_path(working)
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, duckdb
        con = duckdb.connect({str(marts)!r})
        con.execute("insert into marts.contact_segments values ('late', 'seg0')")
        os._exit(0)  # no close, no checkpoint: the row is only in the WAL
    """)], check=True)
    assert wal_path(marts).stat().st_size > 0
    publish(working, tmp_path / "published.duckdb", RunRecord("r1"))
    with duckdb.connect(str(tmp_path / "published.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.contact_segments").fetchone() == (31,)


def test_readers_of_the_working_warehouse_find_the_marts_by_their_usual_name(tmp_path: Path
                                                                            ) -> None:
    working = tmp_path / "working.duckdb"
    make_marts(working, 12)
    with duckdb.connect(str(working)) as con:
        con.execute("create schema hubspot")
        con.execute("create table hubspot.contacts as select 1 as id")
    with connect_working(working, read_only=True) as con:
        assert con.execute("select count(*) from marts.contact_segments").fetchone() == (12,)
        assert con.execute("select count(*) from hubspot.contacts").fetchone() == (1,)
