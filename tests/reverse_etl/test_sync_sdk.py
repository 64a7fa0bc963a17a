"""The sync's contact calls are made by HubSpot's own SDK, under the shared client's policy.

Evidence comes from the wire: a small recording relay (a real HTTP server in front of the
sandbox) notes each request's User-Agent, and the sandbox's own request counts show how many
attempts each call cost. No mocks: the SDK, the client and the sandbox are the real ones.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from hubseg.api import (
    AuthError,
    DailyLimitReached,
    HubSpotClient,
    MissingScopesError,
    ServiceUnavailableError,
    UnreachableError,
)
from hubseg.config import HubSpotSettings, Secret, SyncSettings
from reverse_etl.contacts_api import ContactsApi
from reverse_etl.state import RunStatus
from reverse_etl.sync import run_sync
from reverse_etl.values import OwnedNames, OwnedValues
from sandbox.server.process import RunningServer
from tests.reverse_etl.helpers import (
    BATCH_READ,
    BATCH_UPDATE,
    api_put,
    assign,
    hubspot_values,
    make_config,
    request_count,
    write_model,
)

SDK_AGENT = "hubspot-api-client-python"
RELAYED_HEADERS = ("Content-Type", "Date", "Retry-After")
NAMES = OwnedNames.from_settings(SyncSettings())


class Relay:
    """A real HTTP server that forwards every request to `target` and records
    (method, path, User-Agent) of each; the answer goes back with its status and body."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[tuple[str, str, str]] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                relay.seen.append((self.command, self.path.split("?")[0],
                                   self.headers.get("User-Agent", "")))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type", "accept")}
                answer = requests.request(self.command, relay.target + self.path, data=body,
                                          headers=headers, timeout=60)
                self.send_response(answer.status_code)
                for name in RELAYED_HEADERS:
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def agents(self, path_part: str) -> set[str]:
        return {agent for _, path, agent in self.seen if path_part in path}


@pytest.fixture
def relay(server: RunningServer) -> Iterator[Relay]:
    relay = Relay(server.base_url)
    relay.thread.start()
    yield relay
    relay.server.shutdown()
    relay.server.server_close()


def test_contact_reads_and_writes_are_made_by_the_sdk(server: RunningServer, relay: Relay,
                                                      warehouse: Path, contact_ids) -> None:
    desired = assign(contact_ids, seed=5)
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    # Our client and the SDK both talk to the relay, which forwards to the sandbox.
    config = replace(config, hubspot=replace(config.hubspot, base_url=relay.base_url))

    report = run_sync(config)
    assert report.run.status == RunStatus.SUCCEEDED
    assert hubspot_values(server, contact_ids) == desired  # read from the sandbox directly

    updates, reads = relay.agents("/batch/update"), relay.agents("/batch/read")
    assert updates
    assert reads
    assert all(agent.startswith(SDK_AGENT) for agent in updates | reads), updates | reads
    # The property definitions stay on our HTTP client (see owned_properties.py).
    assert relay.agents("/crm/v3/properties/") == {"hubseg (+https://github.com/hubseg/hubseg)"}
    # Every batch request the relay saw reached the sandbox once: nothing else sent them.
    assert len([s for s in relay.seen if "/batch/update" in s[1]]) == request_count(
        server, BATCH_UPDATE)


def sdk_api(server: RunningServer, token: str | None = None, **settings: object
            ) -> tuple[HubSpotClient, ContactsApi]:
    hub = HubSpotSettings(base_url=server.base_url, access_token=Secret(token or server.token),
                          tier="unlimited", backoff_initial=0.02, backoff_max=0.2,
                          **settings)  # type: ignore[arg-type]
    client = HubSpotClient(hub)
    return client, ContactsApi(client, NAMES)


def test_the_sdk_does_not_retry_behind_the_budget(server: RunningServer, contact_ids) -> None:
    """Every failed attempt is one of ours: the sandbox sees exactly `max_attempts` requests."""
    client, api = sdk_api(server, max_attempts=3)
    for kind in ("500", "drop"):
        server.admin("POST", "reset", json={"requests": True})
        server.admin("PUT", "config", json={"faults": [
            {"route": BATCH_UPDATE, "kinds": {kind: 1.0}}]})
        with pytest.raises(ServiceUnavailableError, match="after 3 attempts"):
            api.update({contact_ids[0]: OwnedValues.of("rfm_lost", "rfm_lost")})
        assert request_count(server, BATCH_UPDATE) == 3, kind
    server.admin("PUT", "config", json={"faults": []})
    assert client.stats.calls["sync: batch update"] == 6
    assert client.stats.retries["sync: batch update"] == 4


def test_sdk_answers_map_to_the_client_s_errors(make_server, contact_ids) -> None:
    server = make_server("--rate-limit", "starter")
    for name in NAMES.properties:  # plain text: the options are not what is tested here
        created = api_put(server, "/crm/v3/properties/contacts", {
            "name": name, "label": name, "type": "string", "fieldType": "text",
            "groupName": "contactinformation"})
        assert created.status_code == 201, created.text
    rows = {contact_ids[0]: OwnedValues.of("rfm_lost", "rfm_lost")}

    # 10-second window: a 429 with Retry-After is waited out and retried.
    server.admin("PUT", "config", json={"perTenSeconds": 1, "retryAfterHeader": True})
    client, api = sdk_api(server)
    assert api.read(contact_ids[:2]).keys() == set(contact_ids[:2])
    answer = api.update(rows)
    assert answer.result_ids == {contact_ids[0]}
    assert answer.errors == ()
    assert request_count(server, BATCH_UPDATE, status=429) == 1
    assert client.stats.retries["sync: batch update"] == 1

    # 207: the SDK's `…WithErrors` answer becomes per-input errors naming their ids.
    server.admin("PUT", "config", json={"perTenSeconds": 1000, "partialFailureMode": "207"})
    answer = api.update({**rows, "999999999": OwnedValues.of("rfm_lost", "rfm_lost")})
    assert answer.result_ids == {contact_ids[0]}
    assert [e.ids for e in answer.errors] == [("999999999",)]
    assert answer.errors[0].category

    # 403 names the write scope; 401 is a bad token, never echoed.
    readonly = server.admin("POST", "tokens", json={
        "name": "ro", "scopes": ["crm.objects.contacts.read"]}).json()["token"]
    with pytest.raises(MissingScopesError, match=r"crm\.objects\.contacts\.write"):
        sdk_api(server, readonly)[1].update(rows)
    with pytest.raises(AuthError) as refused:
        sdk_api(server, "pat-na1-not-a-token")[1].read(contact_ids[:1])
    assert "pat-na1-not-a-token" not in str(refused.value)

    # DAILY: stops at once, and every later call of this client stops without a request.
    server.admin("PUT", "config", json={"perDay": 1})
    client, api = sdk_api(server)
    with pytest.raises(DailyLimitReached):
        api.update(rows)
    before = request_count(server, BATCH_READ)
    with pytest.raises(DailyLimitReached):
        api.read(contact_ids[:1])
    assert request_count(server, BATCH_READ) == before
    assert client.stats.retries["sync: batch update"] == 0


def test_an_unreachable_host_fails_fast_through_the_sdk() -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens on `port` now
    hub = HubSpotSettings(base_url=f"http://127.0.0.1:{port}", access_token=Secret("pat-x"),
                          tier="unlimited", backoff_initial=0.01, backoff_max=0.02)
    client = HubSpotClient(hub)
    api = ContactsApi(client, NAMES)
    with pytest.raises(UnreachableError, match="connection refused"):
        api.read(["1"])
    assert client.stats.calls["sync: read contacts"] == 3  # FIRST_CONTACT_ATTEMPTS
    api.close()
