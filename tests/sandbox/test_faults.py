"""Fault injection (`serve --faults`, `/_sandbox/config`): shares, reproducibility, kinds.

Every test drives a real server over HTTP. The fault decision for the n-th request on a route is
a pure function of (seed, route template, n), so counts asserted here are exact for a given
seed; the binomial tolerance only guards against a badly skewed draw function.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest
import requests

from sandbox.server.faults import FaultSpecError, parse_fault_spec
from sandbox.server.process import RunningServer

EVENTS = "/email/public/v1/events"
CAMPAIGNS = "/email/public/v1/campaigns"
MakeServer = Callable[..., RunningServer]


def statuses(server: RunningServer, n: int, path: str = EVENTS) -> list[int]:
    """Status codes of `n` sequential GETs on one keep-alive session."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {server.token}"
        return [session.get(server.base_url + path, timeout=60).status_code for _ in range(n)]


def test_share_of_429_matches_the_configured_rate(make_server: MakeServer) -> None:
    server = make_server("--faults", "429=0.2", "--fault-seed", "11")
    n, share = 500, 0.2
    seen = statuses(server, n)
    hits = seen.count(429)
    tolerance = 4 * math.sqrt(n * share * (1 - share))  # four standard deviations
    assert abs(hits - n * share) <= tolerance, hits
    assert set(seen) == {200, 429}


def get_events(server: RunningServer) -> requests.Response:
    return requests.get(server.base_url + EVENTS, timeout=60,
                        headers={"Authorization": f"Bearer {server.token}"})


def always(server: RunningServer, kind: str) -> None:
    """Make every HubSpot request fail with `kind` from now on."""
    response = server.admin("PUT", "config", json={"faults": [{"kinds": {kind: 1}}]})
    assert response.status_code == 200, response.text


def test_fault_429_has_hubspots_rate_limit_body(server: RunningServer) -> None:
    always(server, "429")
    response = get_events(server)
    assert response.status_code == 429
    body = response.json()
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["status"] == "error"
    assert {"correlationId", "requestId"} <= set(body)
    assert "Retry-After" not in response.headers
    # On search, HubSpot's own search limit answers: its secondly body, no policy name.
    searched = requests.post(f"{server.base_url}/crm/v3/objects/contacts/search", json={},
                             headers={"Authorization": f"Bearer {server.token}"}, timeout=60)
    assert searched.status_code == 429
    assert searched.json()["message"] == "You have reached your secondly limit."
    assert "policyName" not in searched.json()


def test_server_error_kinds_have_json_bodies(server: RunningServer) -> None:
    for kind, message in (("500", "internal error"), ("502", "Bad Gateway"),
                          ("503", "Service Unavailable")):
        always(server, kind)
        response = get_events(server)
        assert response.status_code == int(kind)
        body = response.json()
        assert body["message"] == message
        assert body["status"] == "error"
        assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]


def test_same_seed_same_faults_other_seed_other_faults(make_server: MakeServer) -> None:
    spec = ["--faults", "429=0.2,500=0.1,503=0.1"]
    first = statuses(make_server(*spec, "--fault-seed", "5"), 80)
    again = statuses(make_server(*spec, "--fault-seed", "5"), 80)
    other = statuses(make_server(*spec, "--fault-seed", "6"), 80)
    assert first == again
    assert first != other
    assert len(set(first)) > 1


def test_reset_restarts_the_sequence_and_config_changes_apply_at_once(
        make_server: MakeServer) -> None:
    server = make_server()
    assert set(statuses(server, 20)) == {200}
    config = server.admin("PUT", "config", json={
        "faultSeed": 3, "faults": [{"route": "*", "kinds": {"500": 0.5}}]})
    assert config.status_code == 200, config.text
    assert config.json()["faults"] == [{"route": "*", "kinds": {"500": 0.5}, "slowSeconds": 2.0}]
    first = statuses(server, 40)
    assert server.admin("POST", "reset", json={"faults": True}).json() == {"reset": ["faults"]}
    assert statuses(server, 40) == first
    assert 500 in first


def test_route_rules_only_hit_their_routes_and_never_the_admin_surface(
        make_server: MakeServer) -> None:
    server = make_server("--faults", f"{CAMPAIGNS}:503=1,/email/public/v1/campaigns/*:502=1")
    assert set(statuses(server, 5, CAMPAIGNS)) == {503}
    assert set(statuses(server, 5, CAMPAIGNS + "/by-id")) == {502}
    assert set(statuses(server, 5, EVENTS)) == {200}
    server.admin("PUT", "config", json={"faults": [{"route": "*", "kinds": {"500": 1}}]})
    assert server.admin("GET", "health").status_code == 200
    assert server.admin("GET", "requests").status_code == 200


def test_drop_cuts_the_connection_mid_response(make_server: MakeServer) -> None:
    server = make_server("--faults", "drop=1")
    with pytest.raises((requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ConnectionError)):
        get_events(server)
    # The server keeps serving after dropping a connection.
    assert server.admin("GET", "health").json()["status"] == "ok"


def test_slow_answers_normally_after_the_delay(make_server: MakeServer) -> None:
    server = make_server("--faults", "slow=1@0.5")
    started = time.monotonic()
    response = get_events(server)
    assert response.status_code == 200
    assert "events" in response.json()
    assert time.monotonic() - started >= 0.5  # a lower bound, not a speed requirement


def test_bad_fault_config_is_refused_and_leaves_settings_alone(server: RunningServer) -> None:
    for bad in ({"faults": [{"route": "*", "kinds": {"418": 0.5}}]},
                {"faults": [{"route": "*", "kinds": {"500": 0.8, "502": 0.5}}]},
                {"faults": "500=1"}):
        response = server.admin("PUT", "config", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["category"] == "VALIDATION_ERROR"
    assert server.admin("GET", "config").json()["faults"] == []


# -- the --faults spec ---------------------------------------------------------------------------

def test_fault_spec_grammar() -> None:
    rules = parse_fault_spec(
        "429=0.05, 500=0.02,drop=0.01,slow=0.01@0.25,/crm/v3/objects/{object_type}:503=0.5")
    assert [(r.route, r.kinds) for r in rules] == [
        ("*", {"429": 0.05, "500": 0.02, "drop": 0.01, "slow": 0.01}),
        ("/crm/v3/objects/{object_type}", {"503": 0.5}),
    ]
    assert rules[0].slow_seconds == 0.25
    assert parse_fault_spec("") == []


@pytest.mark.parametrize("spec", ["429", "teapot=0.1", "500=x", "500=1.5", "500=0.6,502=0.6",
                                  "500=0.1@3", "500=0.1,500=0.2"])
def test_fault_spec_errors(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_fault_spec(spec)
