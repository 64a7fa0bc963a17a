"""The server core: `hubseg sandbox serve`, the `/_sandbox/` admin surface, HubSpot's error
answers for bad requests, and durability of the store across restarts."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from sandbox.server.process import RunningServer, start_server
from sandbox.store import connect, get_meta

EVENTS = "/email/public/v1/events"
CAMPAIGN = "/email/public/v1/campaigns/{campaign_id}"
CONTACTS = "/crm/v3/objects/contacts"
SEARCH = CONTACTS + "/search"
MakeServer = Callable[..., RunningServer]


def serve_cmd(store: Path | str, *flags: str) -> list[str]:
    return [sys.executable, "-m", "hubseg", "sandbox", "serve", "--store", str(store),
            "--port", "0", *flags]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_hubspot_error(response: requests.Response, status: int, category: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert isinstance(body["message"], str)
    assert body["message"]
    assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]
    return body


# -- serve ---------------------------------------------------------------------------------------

def test_serve_announces_url_and_the_portals_token(server: RunningServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.base_url)
    con = connect(server.store, readonly=True)
    tokens = [row[0] for row in con.execute("select token from tokens")]
    portal_id = get_meta(con, "portal_id")
    con.close()
    assert server.token in tokens
    health = server.admin("GET", "health").json()
    assert health["status"] == "ok"
    assert str(health["portalId"]) == portal_id


def test_serve_stops_cleanly_and_never_logs_tokens(portal_copy: Path) -> None:
    dropped = "/email/public/v1/campaigns/by-id"
    proc = subprocess.Popen(serve_cmd(portal_copy, "--faults", f"{dropped}:drop=1"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("HubSpot sandbox serving portal ")
        base_url = lines[1].removeprefix("HUBSPOT_BASE_URL=")
        token = lines[2].removeprefix("HUBSPOT_ACCESS_TOKEN=")
        requests.get(base_url + EVENTS, headers=bearer(token), timeout=60)
        requests.get(base_url + "/no/such/route?email=a%40b.c", headers=bearer(token), timeout=60)
        requests.get(base_url + EVENTS, headers=bearer("pat-na1-wrong-secret"), timeout=60)
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(base_url + dropped, headers=bearer(token), timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out == ""  # nothing on stdout after the announcement
    assert "Traceback" not in err  # injected drops are not logged as application errors
    for secret in (token, "pat-na1-wrong-secret", "a%40b.c", "a@b.c"):
        assert secret not in err


@pytest.mark.parametrize(("flags", "message"), [
    (("--faults", "429=2"), "bad --faults spec"),
    (("--faults", "teapot=0.1"), "bad --faults spec"),
    (("--rate-limit", "unlimited"), "unknown --rate-limit"),
    (("--partial-failures", "500"), "--partial-failures"),
])
def test_serve_refuses_bad_flags(portal_copy: Path, flags: tuple[str, ...], message: str) -> None:
    result = subprocess.run(serve_cmd(portal_copy, *flags), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_without_a_store_says_to_generate(tmp_path: Path) -> None:
    result = subprocess.run(serve_cmd(tmp_path / "missing.sqlite"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "hubseg sandbox generate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# -- HubSpot's answers to bad requests -----------------------------------------------------------

def test_unknown_routes_get_a_json_404(shared_server: RunningServer) -> None:
    for path in ("/crm/v3/nothing-here", "/_sandbox/nothing-here"):
        response = requests.get(shared_server.base_url + path, timeout=60,
                                headers=bearer(shared_server.token))
        assert_hubspot_error(response, 404, "OBJECT_NOT_FOUND")


@pytest.mark.parametrize("headers", [{}, bearer("pat-na1-not-a-token"), {"Authorization": "x"}])
def test_missing_or_wrong_token_is_401(shared_server: RunningServer,
                                       headers: dict[str, str]) -> None:
    response = requests.get(shared_server.base_url + EVENTS, headers=headers, timeout=60)
    assert_hubspot_error(response, 401, "INVALID_AUTHENTICATION")
    assert response.headers["X-HubSpot-Auth-Failure"] == "401 Unauthorized"


def test_token_without_the_scope_is_403(shared_server: RunningServer) -> None:
    minted = shared_server.admin("POST", "tokens", json={
        "name": "contacts-only", "scopes": ["crm.objects.contacts.read"]})
    assert minted.status_code == 200
    token = minted.json()["token"]
    assert token.startswith("pat-na1-")
    response = requests.get(shared_server.base_url + EVENTS, headers=bearer(token), timeout=60)
    body = assert_hubspot_error(response, 403, "MISSING_SCOPES")
    assert body["message"].startswith("This app hasn't been granted all required scopes")


def test_malformed_json_is_a_hubspot_400(shared_server: RunningServer) -> None:
    response = requests.post(shared_server.base_url + SEARCH, data="{not json",
                             headers={**bearer(shared_server.token),
                                      "Content-Type": "application/json"}, timeout=60)
    assert_hubspot_error(response, 400, "VALIDATION_ERROR")


# -- the admin surface ---------------------------------------------------------------------------

def test_requests_are_counted_by_route_template(server: RunningServer) -> None:
    for campaign_id in ("1", "2", "3"):
        requests.get(f"{server.base_url}/email/public/v1/campaigns/{campaign_id}", timeout=60,
                     headers=bearer(server.token))
    requests.get(server.base_url + EVENTS, timeout=60, headers=bearer(server.token))
    requests.get(server.base_url + EVENTS, timeout=60)  # 401, counted with its status
    server.admin("GET", "health")  # the admin surface is never counted

    seen = server.admin("GET", "requests").json()
    assert seen["total"] == 5
    by_route = {(r["route"], r["status"]): r["count"] for r in seen["requests"]}
    assert sum(n for (route, _), n in by_route.items() if route == CAMPAIGN) == 3
    assert by_route[(EVENTS, 200)] == 1
    assert by_route[(EVENTS, 401)] == 1
    only = server.admin("GET", "requests", params={"route": CAMPAIGN}).json()
    assert only["total"] == 3
    assert {r["route"] for r in only["requests"]} == {CAMPAIGN}

    assert server.admin("POST", "reset", json={"requests": True}).json() == {
        "reset": ["requests"]}
    assert server.admin("GET", "requests").json() == {"total": 0, "requests": []}


def _rename_contacts(server: RunningServer, count: int, prefix: str) -> dict[str, str | None]:
    """Batch-update the first names of `count` contacts; returns id → the old first name."""
    listed = requests.get(server.base_url + CONTACTS, headers=bearer(server.token), timeout=60,
                          params={"limit": count, "properties": "firstname"}).json()["results"]
    old = {c["id"]: c["properties"].get("firstname") for c in listed}
    inputs = [{"id": cid, "properties": {"firstname": f"{prefix}{cid}"}} for cid in old]
    response = requests.post(server.base_url + CONTACTS + "/batch/update", timeout=60,
                             headers=bearer(server.token), json={"inputs": inputs})
    assert response.status_code == 200, response.text
    return old


def test_write_log_pages_by_sequence_and_resets(server: RunningServer) -> None:
    old = _rename_contacts(server, 3, "Zed")
    first = server.admin("GET", "writes", params={"limit": 2}).json()
    rest = server.admin("GET", "writes", params={"after": first["last"]}).json()
    assert len(first["writes"]) == 2
    assert len(rest["writes"]) == 1
    logged = first["writes"] + rest["writes"]
    assert [w["seq"] for w in logged] == sorted(w["seq"] for w in logged)
    assert first["last"] == first["writes"][-1]["seq"]
    assert {(w["objectId"], w["oldValue"], w["newValue"]) for w in logged} == {
        (cid, name, f"Zed{cid}") for cid, name in old.items()}
    for write in logged:
        assert write["method"] == "POST"
        assert write["route"] == "/crm/v3/objects/{object_type}/batch/update"
        assert write["objectType"] == "contacts"
        assert write["property"] == "firstname"
    empty = server.admin("GET", "writes", params={"after": rest["last"]}).json()
    assert empty == {"writes": [], "last": rest["last"]}

    server.admin("POST", "reset", json={"writes": True})
    assert server.admin("GET", "writes").json()["writes"] == []
    assert server.admin("GET", "writes", params={"limit": "x"}).status_code == 400


def test_clock_moves_the_portal_time(server: RunningServer) -> None:
    before = server.admin("GET", "clock").json()
    day = 86_400_000
    moved = server.admin("POST", "clock", json={"advanceMs": day}).json()
    assert moved["offsetMs"] == before["offsetMs"] + day
    assert moved["nowMs"] >= before["nowMs"] + day
    assert server.admin("GET", "clock").json()["offsetMs"] == moved["offsetMs"]
    assert server.admin("POST", "clock", json={"advanceMs": "1d"}).status_code == 400


def test_config_reflects_flags_and_validates_changes(make_server: MakeServer) -> None:
    server = make_server("--partial-failures", "400", "--search-lag-ms", "250",
                         "--rate-limit", "enterprise", "--fault-seed", "9")
    config = server.admin("GET", "config").json()
    assert config["partialFailureMode"] == "400"
    assert config["searchIndexLagMs"] == 250
    assert config["rateLimit"] == "enterprise"
    assert config["faultSeed"] == 9
    assert config["effective"] == {"perTenSeconds": 190, "perDay": 1_000_000,
                                   "searchPerSecond": 5}

    changed = server.admin("PUT", "config", json={
        "partialFailureMode": "207", "limits": {"batchMax": 10, "list_max": 20}}).json()
    assert changed["partialFailureMode"] == "207"
    assert changed["limits"]["batchMax"] == 10
    assert changed["limits"]["listMax"] == 20
    assert changed["searchIndexLagMs"] == 250  # untouched fields keep their values

    for bad in ({"rateLimit": "unlimited"}, {"perDay": 0}, {"retryAfterHeader": "yes"},
                {"limits": {"noSuchLimit": 1}}, {"colour": "blue"}, ["not", "an", "object"]):
        response = server.admin("PUT", "config", json=bad)
        assert_hubspot_error(response, 400, "VALIDATION_ERROR")
    bad_json = server.admin("PUT", "config", data="{oops",
                            headers={"Content-Type": "application/json"})
    assert_hubspot_error(bad_json, 400, "VALIDATION_ERROR")
    assert server.admin("GET", "config").json() == changed


def test_writes_and_tokens_survive_a_restart(portal_copy: Path) -> None:
    with start_server(portal_copy) as first:
        minted = first.admin("POST", "tokens", json={"name": "kept", "scopes": ["content"]})
        token = minted.json()["token"]
        renamed = _rename_contacts(first, 2, "Kept")
    assert first.process.returncode == 0
    with start_server(portal_copy) as second:
        response = requests.get(second.base_url + EVENTS, headers=bearer(token), timeout=60)
        assert response.status_code == 200, response.text
        for cid in renamed:
            contact = requests.get(f"{second.base_url}{CONTACTS}/{cid}", timeout=60,
                                   headers=bearer(second.token),
                                   params={"properties": "firstname"}).json()
            assert contact["properties"]["firstname"] == f"Kept{cid}"


def test_bad_admin_input_is_a_json_400(shared_server: RunningServer) -> None:
    cases = [("POST", "tokens", {"scopes": "content"}), ("POST", "tokens", {"name": ""}),
             ("POST", "reset", {"everything": True}), ("POST", "advance", {"days": 0}),
             ("POST", "advance", {"changeRate": 2})]
    for method, path, body in cases:
        assert_hubspot_error(shared_server.admin(method, path, json=body), 400,
                             "VALIDATION_ERROR")
    not_json = shared_server.admin("POST", "tokens", data=b"\xff\xfe")
    assert_hubspot_error(not_json, 400, "VALIDATION_ERROR")


def test_advance_and_stats(server: RunningServer) -> None:
    before = server.admin("GET", "stats")
    assert before.status_code == 200, before.text
    advanced = server.admin("POST", "advance", json={"days": 1, "changeRate": 0.01})
    assert advanced.status_code == 200, advanced.text
    assert isinstance(advanced.json(), dict)
    after = server.admin("GET", "stats")
    assert after.status_code == 200
    assert after.json() != before.json()
