"""`hubseg extract` failures a user can act on: the message says what to do, the exit code
says what happened, and the token appears nowhere (output, dlt state, traces, warehouse)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sandbox.server.process import RunningServer
from tests.pipelines.conftest import Warehouse, cli_env, extract_cli

ALL_READ_SCOPES = ["crm.objects.contacts.read", "crm.objects.companies.read",
                   "crm.objects.deals.read", "crm.schemas.contacts.read",
                   "crm.schemas.companies.read", "crm.schemas.deals.read", "content"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mint_token(server: RunningServer, scopes: list[str]) -> str:
    response = server.admin("POST", "tokens", json={"name": "limited", "scopes": scopes})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def files_containing(root: Path, needle: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_a_bad_token_says_how_to_get_one(shared_server: RunningServer,
                                        warehouse: Warehouse) -> None:
    wrong = "pat-na1-00000000-dead-beef-0000-000000000000"
    result = extract_cli(cli_env(shared_server.base_url, wrong, warehouse))
    assert result.returncode == 4
    assert "rejected the access token" in result.stderr
    assert "HUBSPOT_ACCESS_TOKEN" in result.stderr
    assert "private app" in result.stderr
    assert wrong not in result.stdout + result.stderr


@pytest.mark.parametrize(("resources", "withheld", "named"), [
    ("deals", "deals.read", "crm.objects.deals.read"),
    ("email_events", "content", "`content`"),
])
def test_a_missing_scope_is_named(shared_server: RunningServer, warehouse: Warehouse,
                                  resources: str, withheld: str, named: str) -> None:
    scopes = [s for s in ALL_READ_SCOPES if not s.endswith(withheld)]
    token = mint_token(shared_server, scopes)
    env = cli_env(shared_server.base_url, token, warehouse)
    result = extract_cli(env, "--resources", resources)
    assert result.returncode == 4, result.stderr
    assert "lacks the scope" in result.stderr
    assert named in result.stderr
    assert token not in result.stdout + result.stderr


def test_a_missing_scope_is_named_when_the_403_does_not_name_it(make_server, warehouse: Warehouse
                                                                ) -> None:
    """Whether HubSpot's 403 lists the scopes is not documented: the path names it then."""
    server = make_server()
    assert server.admin("PUT", "config", json={"missingScopesDetail": False}).status_code == 200
    token = mint_token(server, [s for s in ALL_READ_SCOPES if not s.endswith("deals.read")])
    result = extract_cli(cli_env(server.base_url, token, warehouse), "--resources", "deals")
    assert result.returncode == 4, result.stderr
    assert "lacks the scope `crm.schemas.deals.read`" in result.stderr  # its first call


def test_an_unreachable_host_names_the_setting(warehouse: Warehouse) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = extract_cli(cli_env(base_url, "pat-na1-whatever", warehouse), timeout=120)
    assert result.returncode == 5
    assert f"cannot reach HubSpot at {base_url}" in result.stderr
    assert "HUBSPOT_BASE_URL" in result.stderr


def test_missing_token_and_unknown_resources_are_usage_errors(warehouse: Warehouse) -> None:
    env = cli_env("http://127.0.0.1:9", "", warehouse)
    no_token = extract_cli(env)
    assert no_token.returncode == 2
    assert "HUBSPOT_ACCESS_TOKEN" in no_token.stderr
    assert ".dlt/secrets.toml" in no_token.stderr
    env["HUBSPOT_ACCESS_TOKEN"] = "pat-na1-x"
    unknown = extract_cli(env, "--resources", "contacts,tickets")
    assert unknown.returncode == 2
    assert "tickets" in unknown.stderr


def test_the_token_is_nowhere_after_a_run(shared_server: RunningServer,
                                         warehouse: Warehouse) -> None:
    result = extract_cli(cli_env(shared_server.base_url, shared_server.token, warehouse),
                         "--resources", "deals,email_campaigns,properties")
    assert result.returncode == 0, result.stderr
    assert "rows" in result.stdout
    assert shared_server.token not in result.stdout + result.stderr
    assert warehouse.dlt_dir.exists()
    assert files_containing(warehouse.root, shared_server.token) == []
