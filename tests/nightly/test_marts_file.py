"""The marts' own file: upgrading a warehouse whose marts still live in the working file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from hubseg.marts_file import connect_working, marts_path, move_marts_out_of_working
from tests.models.conftest import Warehouse


def _old_warehouse(working: Path) -> None:
    """A working file as versions before the move left it: the marts inside it."""
    with duckdb.connect(str(working)) as con:
        con.execute("create schema marts")
        # dbt's contracts declare NOT NULL columns: the move must keep them
        con.execute("create table marts.segment_membership_history "
                    "(contact_id varchar not null, valid_from date)")
        con.execute("insert into marts.segment_membership_history "
                    "select 'c' || i, date '2026-01-01' from range(40) t(i)")
        con.execute("create table marts.segments as select 'seg' as segment_key")


def _tables(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [t for (t,) in con.execute("select table_name from duckdb_tables() "
                                           "where schema_name = 'marts'").fetchall()]
        return {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in names}


def test_the_upgrade_moves_the_marts_with_their_history(tmp_path: Path) -> None:
    working = tmp_path / "hubseg.duckdb"
    _old_warehouse(working)
    assert move_marts_out_of_working(working) == ["segment_membership_history", "segments"]
    assert _tables(marts_path(working)) == {"segment_membership_history": 40, "segments": 1}
    with duckdb.connect(str(working), read_only=True) as con:
        assert con.execute("select count(*) from duckdb_schemas() where schema_name = 'marts' "
                           "and database_name = current_database()").fetchone() == (0,)
    assert move_marts_out_of_working(working) == []  # nothing left to move
    with connect_working(working, read_only=True) as con:
        assert con.execute("select count(*) from marts.segment_membership_history"
                           ).fetchone() == (40,)
    with duckdb.connect(str(marts_path(working))) as con, pytest.raises(
            duckdb.ConstraintException):
        con.execute("insert into marts.segment_membership_history values (null, null)")


def test_an_upgrade_killed_after_the_copy_only_drops_on_the_rerun(tmp_path: Path) -> None:
    working = tmp_path / "hubseg.duckdb"
    _old_warehouse(working)
    with duckdb.connect(str(marts_path(working))) as con:  # the first transaction committed
        con.execute(f"attach '{working}' as old (read_only)")
        con.execute("create schema marts")
        for table in ("segment_membership_history", "segments"):
            con.execute(f"create table marts.{table} as select * from old.marts.{table}")
    assert move_marts_out_of_working(working) == ["segment_membership_history", "segments"]
    assert _tables(marts_path(working)) == {"segment_membership_history": 40, "segments": 1}
    assert _tables(working) == {}


def test_an_upgrade_never_overwrites_marts_dbt_built_meanwhile(tmp_path: Path) -> None:
    working = tmp_path / "hubseg.duckdb"
    _old_warehouse(working)
    with duckdb.connect(str(marts_path(working))) as con:  # `dbt build` ran before the upgrade
        con.execute("create schema marts")
        con.execute("create table marts.segment_membership_history as select 'new' as x")
    with pytest.raises(RuntimeError, match="drop schema marts cascade"):
        move_marts_out_of_working(working)
    assert _tables(working) == {"segment_membership_history": 40, "segments": 1}
    assert _tables(marts_path(working)) == {"segment_membership_history": 1}


def test_dbt_refuses_to_build_before_the_upgrade(tmp_path: Path) -> None:
    """A user running `dbt build` straight after upgrading would start the history over."""
    warehouse = Warehouse(tmp_path / "w")
    _old_warehouse(warehouse.duckdb)
    result = warehouse.dbt("seed", as_of="2026-01-01", check=False)
    assert result.returncode != 0
    assert "hubseg nightly --only build" in result.stdout, result.stdout[-3000:]
    assert not marts_path(warehouse.duckdb).exists() or _tables(
        marts_path(warehouse.duckdb)) == {}
