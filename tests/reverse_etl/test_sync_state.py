"""The sync's state on its own (real DuckDB, no server): the journal's accepted values, folded
into `contact_state` lazily, and the view `contact_state_current` that the diff reads."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from reverse_etl import state as state_module
from reverse_etl.state import ChangeLog, Outcome, StateRow, Status, SyncState
from reverse_etl.values import EMPTY, OwnedValues

A = OwnedValues("a", "a")
B = OwnedValues("a;b", "b")
C = OwnedValues("c", "c")


def accepted(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, OwnedValues]:
    rows = con.execute(f"select contact_id, accepted_segments, accepted_primary "
                       f"from reverse_etl.{relation} order by contact_id").fetchall()
    return {cid: OwnedValues(segments, primary) for cid, segments, primary in rows}


def runs(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return dict(con.execute(f"select contact_id, run_id from reverse_etl.{relation}").fetchall())


def new_state(path: Path) -> SyncState:
    state = SyncState(duckdb.connect(str(path)))
    state.ensure()
    state.fold()
    state.save_observed("r0", [StateRow(cid, EMPTY, Status.SYNCED) for cid in ("1", "2", "3")],
                        known=False)
    return state


def test_accepted_values_stay_in_the_journal_until_compacted(tmp_path: Path) -> None:
    state = new_state(tmp_path / "w.duckdb")
    state.log("r1", [ChangeLog("1", EMPTY, A, Outcome.ACCEPTED),
                     ChangeLog("2", EMPTY, B, Outcome.FAILED, "bad", 1)])
    state.fold()
    # A few changes among many contacts: statuses are folded, accepted values are not.
    assert accepted(state.con, "contact_state")["1"] == EMPTY
    assert accepted(state.con, "contact_state_current") == {"1": A, "2": EMPTY, "3": EMPTY}
    assert state.con.execute("select status, attempts, pending_segments from "
                             "reverse_etl.contact_state where contact_id = '2'"
                             ).fetchone() == ("failed", 1, "a;b")
    # A clean acceptance leaves the row untouched; the view takes its run from the journal.
    assert runs(state.con, "contact_state") == {"1": "r0", "2": "r1", "3": "r0"}
    assert runs(state.con, "contact_state_current") == {"1": "r1", "2": "r1", "3": "r0"}
    state.log("r2", [ChangeLog("1", A, B, Outcome.ACCEPTED), ChangeLog("2", EMPTY, B,
                                                                        Outcome.ACCEPTED)])
    state.fold()
    assert accepted(state.con, "contact_state_current") == {"1": B, "2": B, "3": EMPTY}
    assert state.con.execute("select status, attempts, pending_segments from "
                             "reverse_etl.contact_state where contact_id = '2'"
                             ).fetchone() == ("synced", 0, None)  # not clean before: folded
    state.compact()
    assert accepted(state.con, "contact_state") == {"1": B, "2": B, "3": EMPTY}
    assert accepted(state.con, "contact_state_current") == accepted(state.con, "contact_state")
    assert runs(state.con, "contact_state") == {"1": "r2", "2": "r2", "3": "r0"}
    assert runs(state.con, "contact_state_current") == runs(state.con, "contact_state")


def test_a_value_read_from_hubspot_outranks_older_journal_entries(tmp_path: Path) -> None:
    state = new_state(tmp_path / "w.duckdb")
    state.log("r1", [ChangeLog("1", EMPTY, A, Outcome.ACCEPTED)])
    state.fold()
    # HubSpot was read later (an in-flight contact resolved): it holds C, someone else's edit.
    state.save_observed("r2", [StateRow("1", C, Status.SYNCED)], known=True)
    assert accepted(state.con, "contact_state_current")["1"] == C
    state.compact()  # the older journal entry must not be folded over it either
    assert accepted(state.con, "contact_state")["1"] == C
    state.log("r3", [ChangeLog("1", C, B, Outcome.CONFIRMED)])  # a later one does win
    state.fold()
    assert accepted(state.con, "contact_state_current")["1"] == B


def test_the_fold_compacts_once_the_journal_holds_enough(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    state = new_state(tmp_path / "w.duckdb")
    monkeypatch.setattr(state_module, "COMPACT_MIN_ROWS", 2)
    state.log("r1", [ChangeLog("1", EMPTY, A, Outcome.ACCEPTED)])
    state.fold()  # 1 entry of 3 contacts: below 2 rows
    assert accepted(state.con, "contact_state")["1"] == EMPTY
    state.log("r2", [ChangeLog("2", EMPTY, B, Outcome.ACCEPTED)])
    state.fold()  # 2 entries: folded
    assert accepted(state.con, "contact_state") == {"1": A, "2": B, "3": EMPTY}
    assert state.con.execute("select text_seq = (select max(seq) from reverse_etl.sync_changes)"
                             " from reverse_etl.folded").fetchone() == (True,)


def test_a_state_written_before_lazy_folding_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    state = new_state(path)
    state.log("r1", [ChangeLog("1", EMPTY, A, Outcome.ACCEPTED)])
    state.fold()
    state.compact()
    state.save_observed("r2", [StateRow("1", C, Status.SYNCED)], known=True)
    # What an older version left: no view, no accepted_seq, no text_seq, values all folded
    # (C, read from HubSpot after A was journaled, must not give way to A).
    state.con.execute("drop view reverse_etl.contact_state_current")
    state.con.execute("alter table reverse_etl.contact_state drop column accepted_seq")
    state.con.execute("alter table reverse_etl.folded drop column text_seq")
    assert state.relation() == "reverse_etl.contact_state"  # what a dry run reads
    state.ensure()
    assert state.relation() == "reverse_etl.contact_state_current"
    assert accepted(state.con, "contact_state_current") == {"1": C, "2": EMPTY, "3": EMPTY}


def test_contacts_leaving_and_rejoining_the_model_flip_status(tmp_path: Path) -> None:
    state = new_state(tmp_path / "w.duckdb")
    state.con.execute("create table model as select unnest(['1', '2']) as contact_id")
    assert state.refresh_model_membership("r1", "model") == 1
    assert state.refresh_model_membership("r2", "model") == 0  # nothing flips twice
    state.con.execute("insert into model values ('3')")
    assert state.refresh_model_membership("r3", "model") == 0  # back: read back next run
    assert state.con.execute("select contact_id, status, run_id from reverse_etl.contact_state "
                             "order by 1").fetchall() == [
        ("1", "synced", "r0"), ("2", "synced", "r0"), ("3", "in_flight", "r3")]
