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


def _events(con: duckdb.DuckDBPyConnection, rows: str) -> None:
    """`marts.fct_email_events` as the dbt model keeps it: one row per event, its load's id."""
    con.execute("create schema if not exists marts")
    con.execute("create or replace table marts.fct_email_events as select event_id, load_id, "
                f"event_type from (values {rows}) t(event_id, load_id, event_type)")


def _published_events(published: Path) -> tuple[list[tuple[str, str, str]], str]:
    """The published events, and how the last publish copied them."""
    with duckdb.connect(str(published), read_only=True) as con:
        copied = con.execute("select copied from nightly.publication "
                             "where table_name = 'marts.fct_email_events'").fetchone()
        rows = con.execute("select * from marts.fct_email_events order by 1").fetchall()
    return rows, copied[0] if copied else ""


def test_republishing_adds_new_loads_and_recopies_what_it_cannot_prove(tmp_path: Path) -> None:
    from hubseg.nightly.history import RunRecord
    from hubseg.nightly.publish import publish

    working, published = tmp_path / "working.duckdb", tmp_path / "published.duckdb"
    with duckdb.connect(str(working)) as con:
        _events(con, "('e1', 'L1', 'SENT'), ('e2', 'L1', 'OPEN')")
        con.execute("create table marts.retired as select 1 as x")
    publish(working, published, RunRecord("r1"))
    with duckdb.connect(str(working)) as con:  # a new load: a new event, a newer copy of e2
        _events(con, "('e1', 'L1', 'SENT'), ('e2', 'L2', 'CLICK'), ('e3', 'L2', 'SENT')")
        con.execute("drop table marts.retired")
    counts = publish(working, published, RunRecord("r2"))
    assert _published_events(published) == (
        [("e1", "L1", "SENT"), ("e2", "L2", "CLICK"), ("e3", "L2", "SENT")], "new loads")
    assert counts == {"marts.fct_email_events": 3}  # the retired table is gone
    with duckdb.connect(str(working)) as con:  # rebuilt: e1 now from L2, which is published
        _events(con, "('e1', 'L2', 'DROPPED'), ('e2', 'L2', 'CLICK')")
    publish(working, published, RunRecord("r3"))
    assert _published_events(published) == (  # the new-load rows alone would not match
        [("e1", "L2", "DROPPED"), ("e2", "L2", "CLICK")], "whole table")
    with duckdb.connect(str(published), read_only=True) as con:
        runs = con.execute("select run_id from nightly.runs order by 1").fetchall()
        manifest = con.execute("select distinct run_id from nightly.publication").fetchall()
    assert runs == [("r3",)]  # the working warehouse holds the history; these had none
    assert manifest == [("r3",)]
