"""The whole loop on the small portal: extract → dbt → sync, then a simulated day later.

HubSpot (the sandbox, read through its API) must equal the dbt sync model after the first
sync; a second sync writes nothing; after `advance --days 1`, extract and dbt, the sync writes
exactly the contacts whose values differ from what HubSpot holds, in ⌈changed ÷ 100⌉ batch
requests.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubseg.marts_file import connect_working
from reverse_etl.values import OwnedValues
from tests.reverse_etl.helpers import BATCH_UPDATE, hubspot_values, request_count, write_log

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SYNC_MODEL = "marts.sync_hubspot__contact_segments"


def run(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=900, check=False)
    assert result.returncode == 0, f"{args[:3]} failed:\n{result.stdout}\n{result.stderr}"


def portal_date(server) -> str:
    now_ms = server.admin("GET", "clock").json()["nowMs"]
    return dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date().isoformat()


def extract_and_build(server, env: dict[str, str]) -> None:
    run([str(BIN / "hubseg"), "extract", "--quiet"], env)
    run([str(BIN / "dbt"), "build", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
         # what the sync reads and its parents, with the tests of exactly those
         "--select", "+sync_hubspot__contact_segments", "+segments",
         "--indirect-selection", "cautious",
         "--vars", f"{{as_of_date: '{portal_date(server)}'}}"], env)


def sync_model(warehouse: Path) -> dict[str, OwnedValues]:
    con = connect_working(warehouse, read_only=True)
    try:
        rows = con.execute(f"select contact_id, segment_keys, primary_segment_key "
                           f"from {SYNC_MODEL}").fetchall()
    finally:
        con.close()
    return {str(cid): OwnedValues.of(keys, primary) for cid, keys, primary in rows}


@pytest.mark.slow  # two extracts and two dbt builds: minutes, not seconds
def test_extract_build_sync_then_a_day_later(server, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    env = {**os.environ, "HUBSPOT_BASE_URL": server.base_url,
           "HUBSPOT_ACCESS_TOKEN": server.token, "HUBSPOT_TIER": "unlimited",
           "HUBSEG_WAREHOUSE": str(warehouse), "HUBSEG_DLT_DIR": str(tmp_path / "dlt"),
           "DBT_TARGET_PATH": str(tmp_path / "target"), "DBT_LOG_PATH": str(tmp_path / "logs")}
    sync = [str(BIN / "hubseg"), "sync", "--quiet"]

    extract_and_build(server, env)
    run(sync, env)
    model = sync_model(warehouse)
    assert len(model) > 900
    assert hubspot_values(server, list(model)) == model

    server.admin("POST", "reset", json={"requests": True, "writes": True})
    run(sync, env)
    assert request_count(server, BATCH_UPDATE) == 0
    assert write_log(server) == []

    server.admin("POST", "advance", json={"days": 1})
    extract_and_build(server, env)
    later = sync_model(warehouse)
    held = hubspot_values(server, list(later))
    changed = {cid for cid, values in later.items() if held[cid] != values}
    assert changed  # a simulated day moves some contacts between segments
    server.admin("POST", "reset", json={"requests": True, "writes": True})
    run(sync, env)
    assert {w["objectId"] for w in write_log(server)} == changed
    assert request_count(server, BATCH_UPDATE) == math.ceil(len(changed) / 100)
    assert hubspot_values(server, list(later)) == later
