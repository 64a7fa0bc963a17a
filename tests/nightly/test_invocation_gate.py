"""The gate's rules over the dbt invocations the project's hooks record (macros/
dbt_invocations.sql): a sync or publication without a build needs a complete build that
succeeded, and nothing but successes after it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from hubseg.nightly import history

FULL_OK = ("build", "full", "success")
Row = tuple[str, str, str]  # command, scope, status


def gate(tmp_path: Path, rows: list[Row]) -> str | None:
    working = tmp_path / "hubseg.duckdb"
    with duckdb.connect(str(working)) as con:
        history.ensure_table(con)
        con.execute("create table main.dbt_invocations (invocation_id varchar, command varchar, "
                    "scope varchar, started_at timestamp, finished_at timestamp, "
                    "status varchar)")
        for n, (command, scope, status) in enumerate(rows):
            con.execute("insert into main.dbt_invocations values (?, ?, ?, timestamp "
                        "'2026-12-01' + to_minutes(?), null, ?)",
                        [f"inv-{n}", command, scope, n, status])
    return history.untested_build(working, "this-run")


@pytest.mark.parametrize(("rows", "reason"), [
    ([FULL_OK], None),
    ([FULL_OK, ("seed", "partial", "success"), ("build", "partial", "success")], None),
    ([("build", "full", "failed"), FULL_OK], None),
    ([], "no complete dbt build has succeeded"),
    ([("build", "partial", "success")], "no complete dbt build has succeeded"),
    ([FULL_OK, ("build", "full", "failed"), ("seed", "partial", "success")],
     "`dbt build` (invocation inv-1"),
    ([FULL_OK, ("run", "partial", "untested")], "written without their tests"),
    ([FULL_OK, ("build", "partial", "running")], "killed, or still running"),
], ids=["full", "partial-after", "fixed", "none", "partial-only", "failed-then-seed",
        "run-untested", "killed"])
def test_the_marts_must_be_a_tested_builds(tmp_path: Path, rows: list[Row],
                                           reason: str | None) -> None:
    found = gate(tmp_path, rows)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found
        assert "run the build step first" in found
