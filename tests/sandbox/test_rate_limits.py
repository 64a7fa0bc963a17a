"""Rate limits: the 10 s rolling window per token, the daily cap and the 5/s search bucket per
account.

Real servers, real HTTP. Limits are made small through `PUT /_sandbox/config` where the point is
the behaviour, not HubSpot's numbers; the starter preset's own numbers are checked once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from sandbox.server.process import RunningServer

EVENTS = "/email/public/v1/events"
SEARCH = "/crm/v3/objects/contacts/search"
RATE_HEADERS = ("Daily", "Daily-Remaining", "Interval-Milliseconds", "Max", "Remaining",
                "Secondly", "Secondly-Remaining")
MakeServer = Callable[..., RunningServer]


def session(token: str) -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def rate_headers(response: requests.Response) -> dict[str, int]:
    return {name: int(response.headers[f"X-HubSpot-RateLimit-{name}"])
            for name in RATE_HEADERS if f"X-HubSpot-RateLimit-{name}" in response.headers}


def configure(server: RunningServer, **changes: Any) -> None:
    response = server.admin("PUT", "config", json=changes)
    assert response.status_code == 200, response.text


def assert_policy_429(response: requests.Response, message: str, policy: str) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"status", "message", "errorType", "correlationId", "policyName",
                         "requestId"}
    assert body["status"] == "error"
    assert body["message"] == message
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == policy
    assert body["correlationId"] == response.headers["X-HubSpot-Correlation-Id"]


def test_starter_window_counts_down_limits_and_refills(make_server: MakeServer) -> None:
    server = make_server("--rate-limit", "starter")
    with session(server.token) as s:
        accepted = [s.get(server.base_url + EVENTS, timeout=60) for _ in range(100)]
        assert {r.status_code for r in accepted} == {200}
        first = rate_headers(accepted[0])
        assert first == {"Daily": 250_000, "Daily-Remaining": 249_999,
                         "Interval-Milliseconds": 10_000, "Max": 100, "Remaining": 99,
                         "Secondly": 10, "Secondly-Remaining": first["Secondly-Remaining"]}
        assert [rate_headers(r)["Remaining"] for r in accepted] == list(range(99, -1, -1))

        limited = s.get(server.base_url + EVENTS, timeout=60)
        limited_at = time.monotonic()
        assert_policy_429(limited, "You have reached your ten_secondly_rolling limit.",
                          "TEN_SECONDLY_ROLLING")
        assert "Retry-After" not in limited.headers  # HubSpot sends none by default
        # Rejected requests consume nothing: the daily count stays at the 100 accepted.
        again = s.get(server.base_url + EVENTS, timeout=60)
        assert again.status_code == 429
        assert rate_headers(again)["Daily-Remaining"] == 250_000 - 100
        assert rate_headers(again)["Remaining"] == 0

        # Every accepted request was stamped before the 429 arrived: 10 s later the window is
        # empty again, and a request sees all but itself remaining.
        time.sleep(max(0.0, limited_at + 10.3 - time.monotonic()))
        refilled = s.get(server.base_url + EVENTS, timeout=60)
        assert refilled.status_code == 200, refilled.text
        assert rate_headers(refilled)["Remaining"] == 99
        assert rate_headers(refilled)["Daily-Remaining"] == 250_000 - 101


def test_windows_are_per_token(make_server: MakeServer) -> None:
    server = make_server("--rate-limit", "starter")
    configure(server, perTenSeconds=3)
    other = server.admin("POST", "tokens", json={"name": "other", "scopes": ["content"]})
    with session(server.token) as s:
        codes = [s.get(server.base_url + EVENTS, timeout=60).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    with session(other.json()["token"]) as s:
        response = s.get(server.base_url + EVENTS, timeout=60)
    assert response.status_code == 200
    assert rate_headers(response)["Remaining"] == 2


def test_the_daily_cap_is_the_accounts_not_the_tokens(make_server: MakeServer) -> None:
    """Two private apps of one portal (the extract's and the sync's) share the day's count."""
    server = make_server("--rate-limit", "starter")
    configure(server, perDay=3)
    other = server.admin("POST", "tokens", json={"name": "other", "scopes": ["content"]})
    with session(server.token) as s:
        assert [s.get(server.base_url + EVENTS, timeout=60).status_code
                for _ in range(2)] == [200, 200]
    with session(other.json()["token"]) as s:
        responses = [s.get(server.base_url + EVENTS, timeout=60) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 429]
    assert rate_headers(responses[0])["Daily-Remaining"] == 0
    assert_policy_429(responses[1], "You have reached your daily limit.", "DAILY")


def test_daily_cap(make_server: MakeServer) -> None:
    server = make_server("--rate-limit", "starter")
    configure(server, perDay=3)
    with session(server.token) as s:
        responses = [s.get(server.base_url + EVENTS, timeout=60) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert [rate_headers(r)["Daily-Remaining"] for r in responses[:3]] == [2, 1, 0]
    for response in responses[3:]:
        assert_policy_429(response, "You have reached your daily limit.", "DAILY")


def test_retry_after_only_when_configured(make_server: MakeServer) -> None:
    server = make_server("--rate-limit", "starter")
    configure(server, perTenSeconds=1, retryAfterHeader=True)
    with session(server.token) as s:
        assert s.get(server.base_url + EVENTS, timeout=60).status_code == 200
        limited = s.get(server.base_url + EVENTS, timeout=60)
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 10


def test_reset_clears_windows_and_config_changes_apply_at_once(make_server: MakeServer) -> None:
    server = make_server()
    with session(server.token) as s:
        unlimited = s.get(server.base_url + EVENTS, timeout=60)
        assert unlimited.status_code == 200
        assert rate_headers(unlimited) == {}  # preset off: no limits to describe
        configure(server, rateLimit="pro", perTenSeconds=2)
        codes = [s.get(server.base_url + EVENTS, timeout=60).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert server.admin("POST", "reset", json={"limits": True}).status_code == 200
        fresh = s.get(server.base_url + EVENTS, timeout=60)
    assert fresh.status_code == 200
    assert rate_headers(fresh)["Remaining"] == 1
    assert rate_headers(fresh)["Daily"] == 625_000


def _search_burst(server: RunningServer, n: int) -> list[requests.Response]:
    """`n` searches released together from `n` threads."""
    barrier = threading.Barrier(n)
    body = {"filterGroups": [], "properties": ["email"], "limit": 1}

    def one(_: int) -> requests.Response:
        with session(server.token) as s:
            barrier.wait()
            return s.post(server.base_url + SEARCH, json=body, timeout=60)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_search_has_its_own_secondly_bucket_and_no_headers(make_server: MakeServer) -> None:
    server = make_server("--rate-limit", "starter")
    # 2/s and 12 simultaneous searches: spread over fewer than 6 s, some must be refused.
    configure(server, searchPerSecond=2)
    responses = _search_burst(server, 12)
    codes = [r.status_code for r in responses]
    assert set(codes) == {200, 429}, codes
    for response in responses:
        assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in response.headers)
    limited = next(r for r in responses if r.status_code == 429)
    body = limited.json()
    assert set(body) == {"status", "message", "errorType", "correlationId"}
    assert body["message"] == "You have reached your secondly limit."
    assert body["errorType"] == "RATE_LIMIT"
    # Searches do not use the 10 s window (but do count against the day).
    with session(server.token) as s:
        after = s.get(server.base_url + EVENTS, timeout=60)
    assert rate_headers(after)["Remaining"] == 99
    assert rate_headers(after)["Daily-Remaining"] == 250_000 - codes.count(200) - 1
