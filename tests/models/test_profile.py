"""profiles.yml: dbt's DuckDB connection takes its memory cap from the environment."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tests.models.conftest import Warehouse


def dbt_memory_limit(root: Path, **env: str) -> str:
    """DuckDB's `memory_limit` as a dbt session on a fresh warehouse sees it."""
    result = Warehouse(root, env=env).dbt(
        "show", "--quiet", "--output", "json", "--inline",
        "select current_setting('memory_limit') as memory_limit", as_of="2026-11-01")
    return json.loads(result.stdout[result.stdout.index("{"):])["show"][0]["memory_limit"]


def duckdb_renders(limit: str | None) -> str:
    """The same setting as DuckDB itself renders it (its default when `limit` is None)."""
    with duckdb.connect() as con:
        if limit is not None:
            con.execute(f"set memory_limit = '{limit}'")
        return con.execute("select current_setting('memory_limit')").fetchone()[0]


def test_dbt_memory_limit_caps_duckdb_and_defaults_to_duckdbs_own(tmp_path: Path) -> None:
    assert dbt_memory_limit(tmp_path / "capped", HUBSEG_DBT_MEMORY_LIMIT="1GB") == (
        duckdb_renders("1GB"))
    # Unset or empty: DuckDB's default (80% of RAM), not a cap of our own.
    assert dbt_memory_limit(tmp_path / "default", HUBSEG_DBT_MEMORY_LIMIT="") == (
        duckdb_renders(None))
    assert duckdb_renders("1GB") != duckdb_renders(None)  # the two cases really differ


def test_bare_dates_are_midnight_utc_whatever_the_time_zone_and_digits_are_ms(tmp_path: Path
                                                                              ) -> None:
    """HubSpot's date properties ('2025-03-15') must not move to the 14th east of Greenwich."""
    inline = ("select cast({{ text_to_timestamp(\"'2025-03-15'\") }} as varchar) as day, "
              "cast({{ text_to_timestamp(\"'2025-03-15T21:52:35.138Z'\") }} as varchar) as at, "
              "cast({{ text_to_timestamp(\"'1572480000000'\") }} as varchar) as ms, "
              "current_setting('TimeZone') as zone")
    result = Warehouse(tmp_path, env={"TZ": "Europe/Paris"}).dbt(
        "show", "--quiet", "--output", "json", "--inline", inline, as_of="2026-11-01")
    row = json.loads(result.stdout[result.stdout.index("{"):])["show"][0]
    assert row["zone"] == "Europe/Paris"  # the session really is east of Greenwich
    assert row["day"] == "2025-03-15 00:00:00"
    assert row["at"] == "2025-03-15 21:52:35.138"
    assert row["ms"] == "2019-10-31 00:00:00"  # epoch milliseconds, as HubSpot's examples
