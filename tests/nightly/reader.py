"""A BI stand-in: query the published warehouse in a loop and record what it saw.

Run as `python tests/nightly/reader.py MODE PUBLISHED STOP_FILE OUT_JSON`. Each check opens
nothing new in `hold` mode (one connection, opened at the first success, kept throughout: it
must keep seeing its own snapshot) and a fresh read-only connection in `loop` mode (as BI does
per query). Every check verifies ONE consistent state: a single publishing run id, every
table's row count equal to the publication manifest, segment sizes adding up to the
memberships, and the history's newest run being the publisher.

The two modes run in separate processes on purpose: DuckDB shares one database instance per
file path within a process, so a held connection would make every later `connect` in the same
process reuse the old snapshot.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb


def check(con: duckdb.DuckDBPyConnection) -> tuple[str, list[str]]:
    """(run id, problems) of one snapshot."""
    manifest = con.execute("select run_id, table_name, row_count "
                           "from nightly.publication").fetchall()
    problems: list[str] = []
    run_ids = {run_id for run_id, _, _ in manifest}
    if len(run_ids) != 1:
        problems.append(f"manifest names {len(run_ids)} runs")
    for _, table, rows in manifest:
        (actual,) = con.execute(f"select count(*) from {table}").fetchone() or (None,)
        if actual != rows:
            problems.append(f"{table}: {actual} rows, manifest says {rows}")
    (members,) = con.execute("select sum(member_count) from marts.segments").fetchone() or (0,)
    (pairs,) = con.execute("select count(*) from marts.contact_segments").fetchone() or (0,)
    if members != pairs:
        problems.append(f"segment sizes add up to {members}, memberships are {pairs}")
    (newest,) = con.execute("select run_id from nightly.runs order by started_at desc "
                            "limit 1").fetchone() or (None,)
    run_id = min(run_ids) if run_ids else ""
    if newest != run_id:
        problems.append(f"newest run {newest} is not the publisher {run_id}")
    return run_id, problems


def main(mode: str, published: Path, stop: Path, out: Path) -> None:
    seen: dict[str, int] = {}
    errors: list[str] = []
    inconsistent: list[str] = []
    held: duckdb.DuckDBPyConnection | None = None
    iterations = absent = 0
    while not stop.exists():
        iterations += 1
        if not published.exists():
            absent += 1
            time.sleep(0.02)
            continue
        try:
            if mode == "hold":
                held = held or duckdb.connect(str(published), read_only=True)
                run_id, problems = check(held)
                time.sleep(0.05)
            else:
                with duckdb.connect(str(published), read_only=True) as con:
                    run_id, problems = check(con)
        except Exception as exc:  # every error is a finding: BI must never see one
            errors.append(f"{type(exc).__name__}: {exc}")
            continue
        seen[run_id] = seen.get(run_id, 0) + 1
        inconsistent += problems
    out.write_text(json.dumps({"mode": mode, "iterations": iterations, "absent": absent,
                               "runs": seen, "errors": errors[:20], "error_count": len(errors),
                               "inconsistent": inconsistent[:20]}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
