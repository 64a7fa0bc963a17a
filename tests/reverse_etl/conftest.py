"""Fixtures of the sync tests (helpers live in `helpers.py`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def contact_ids(small_portal: Path) -> list[str]:
    """The live contact ids of the small portal (test data; truth is read via the API)."""
    con = sqlite3.connect(small_portal)
    try:
        rows = con.execute("select id from objects where object_type = 'contacts' "
                           "and archived = 0 order by id").fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"
