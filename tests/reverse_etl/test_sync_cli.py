"""`hubseg sync` as a user runs it: output, exit codes, actionable errors, nothing secret.

The command runs in-process through Click's test runner (the real command, its real
configuration resolution from the environment), which saves a Python start per call.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from hubseg.cli import app
from reverse_etl.values import OwnedValues
from tests.reverse_etl.helpers import (
    BATCH_UPDATE,
    SEGMENTS,
    assign,
    request_count,
    write_log,
    write_model,
)


def hubseg_sync(server, warehouse: Path, *args: str, token: str | None = None):
    env = {"HUBSPOT_BASE_URL": server.base_url, "HUBSPOT_ACCESS_TOKEN": token or server.token,
           "HUBSPOT_TIER": "unlimited", "HUBSEG_WAREHOUSE": str(warehouse), "COLUMNS": "200"}
    return CliRunner().invoke(app, ["sync", *args], env=env)


def mint_token(server, *scopes: str) -> str:
    return server.admin("POST", "tokens", json={"name": "sync-test",
                                                "scopes": list(scopes)}).json()["token"]


def test_dry_run_then_sync_then_guardrail(server, warehouse: Path, contact_ids) -> None:
    desired = assign(contact_ids, seed=41)
    write_model(warehouse, desired)
    dry = hubseg_sync(server, warehouse, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    changing = sum(not v.empty for v in desired.values())
    assert f"contacts changing: {changing:,}" in dry.stdout
    assert "segment membership changes" in dry.stdout
    assert "sample changes" in dry.stdout
    assert "create property hubseg_segments" in dry.stdout
    assert f"{-(-changing // 100)} batch updates" in dry.stdout
    assert "@" not in dry.stdout  # contact ids and segment keys only: no emails
    assert write_log(server) == []

    done = hubseg_sync(server, warehouse, "--quiet")
    assert done.exit_code == 0, done.stderr
    assert f"sync succeeded: {len(contact_ids):,} contacts in the model" in done.stdout
    assert server.token not in done.stdout + done.stderr

    emptied = {cid: OwnedValues() for cid in contact_ids}
    write_model(warehouse, emptied, SEGMENTS)
    server.admin("POST", "reset", json={"requests": True, "writes": True})
    stopped = hubseg_sync(server, warehouse, "--quiet")
    assert stopped.exit_code == 6
    assert f"{changing:,} of {len(contact_ids):,} contacts" in stopped.stderr
    assert "hubseg sync --force" in stopped.stderr
    assert request_count(server, BATCH_UPDATE) == 0


def test_missing_scopes_and_bad_tokens_are_named(server, warehouse: Path, contact_ids) -> None:
    write_model(warehouse, assign(contact_ids, seed=42))
    readonly = mint_token(server, "crm.objects.contacts.read", "crm.schemas.contacts.read")
    no_schema = hubseg_sync(server, warehouse, "-q", token=readonly)
    assert no_schema.exit_code == 4
    assert "crm.schemas.contacts.write" in no_schema.stderr

    no_write = mint_token(server, "crm.objects.contacts.read", "crm.schemas.contacts.write")
    result = hubseg_sync(server, warehouse, "-q", token=no_write)
    assert result.exit_code == 4
    assert "crm.objects.contacts.write" in result.stderr

    bad = hubseg_sync(server, warehouse, "-q", token="pat-na1-not-a-token")
    assert bad.exit_code == 4
    assert "rejected the access token" in bad.stderr
    assert "pat-na1-not-a-token" not in bad.stderr


def test_missing_models_are_a_configuration_error(server, tmp_path: Path) -> None:
    result = hubseg_sync(server, tmp_path / "nowhere.duckdb", "-q")
    assert result.exit_code == 2
    assert "hubseg extract" in result.stderr
    empty = tmp_path / "empty.duckdb"
    write_model(empty, {})
    con = duckdb.connect(str(empty))
    con.execute("drop table marts.sync_hubspot__contact_segments")
    con.close()
    result = hubseg_sync(server, empty, "-q")
    assert result.exit_code == 2
    assert "marts.sync_hubspot__contact_segments" in result.stderr
    assert "dbt build" in result.stderr
