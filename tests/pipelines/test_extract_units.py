"""The extractor's pure parts: property chunking, scopes, configuration, the secret wrapper."""

from __future__ import annotations

import copy
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from hubseg.api import ApiPaths, required_scopes
from hubseg.api.budget import AnswerWindow, Budget, Window, limits_for
from hubseg.config import ConfigError, HubSpotSettings, Secret, load_config
from pipelines.hubspot.crm import property_chunks
from pipelines.hubspot.email import new_events


def test_property_chunks_fit_the_url_budget_and_keep_every_name() -> None:
    names = [f"custom_property_number_{i:04d}" for i in range(1000)] + ["e-mail@x"]
    chunks = property_chunks(names, fixed_url_chars=300, max_url_chars=7000)
    assert [n for chunk in chunks for n in chunk] == names
    for chunk in chunks:
        encoded = len("&properties=") + len("%2C".join(quote(n, safe="") for n in chunk))
        assert 300 + encoded <= 7000
    assert len(chunks) == 5  # ~33 encoded characters per name, ~200 names per chunk
    assert property_chunks(["a", "b"], 300, 7000) == [["a", "b"]]


def test_an_event_repeated_within_a_page_or_across_two_pages_is_yielded_once() -> None:
    """The events merge skips dlt's deduplication: a run drops the repeats a page shift makes."""
    def event(eid: str, created: int) -> dict[str, object]:
        return {"id": eid, "created": created, "type": "OPEN"}

    page1 = [event("a", 3), event("b", 2), event("b", 2)]
    page2 = [event("b", 2), event("c", 1), event("b", 1)]  # b again, and a b of another ms
    fresh1, keys = new_events(page1, set())
    fresh2, _ = new_events(page2, keys)
    assert [(e["id"], e["created"]) for e in fresh1] == [("a", 3), ("b", 2)]
    assert [(e["id"], e["created"]) for e in fresh2] == [("c", 1), ("b", 1)]


def test_paths_follow_the_configured_api_version() -> None:
    classic, dated = ApiPaths("v3"), ApiPaths("2026-03")
    assert classic.search("deals") == "/crm/v3/objects/deals/search"
    assert dated.search("deals") == "/crm/objects/2026-03/0-3/search"
    assert dated.association_batch_read("contacts", "deals") == (
        "/crm/associations/2026-03/contacts/deals/batch/read")
    assert dated.email_events == classic.email_events == "/email/public/v1/events"


@pytest.mark.parametrize(("path", "scopes"), [
    ("/crm/v3/objects/contacts", ["crm.objects.contacts.read"]),
    ("/crm/objects/2026-03/0-3/search", ["crm.objects.deals.read"]),
    ("/crm/v3/properties/companies", ["crm.schemas.companies.read"]),
    ("/crm/v4/associations/contacts/deals/batch/read", ["crm.objects.contacts.read"]),
    ("/email/public/v1/campaigns/by-id", ["content"]),
])
def test_required_scopes_per_endpoint(path: str, scopes: list[str]) -> None:
    assert required_scopes(path) == scopes


def test_budget_stays_below_the_tier_limits() -> None:
    pro = Budget.from_settings(HubSpotSettings(tier="pro"))
    # HubSpot's counts: 190 per 10 s counted until 10.1 s after each answer; 5 searches, each
    # counted until 1.1 s (HubSpot's second, 5% and at least 100 ms longer) after its answer.
    assert (pro.general, pro.search) == (Window(190, 10_100), Window(5, 1_100))
    assert pro.requests_per_second() == pytest.approx(18.81, abs=0.01)
    assert pro.requests_per_second(search=True) == pytest.approx(4.55, abs=0.01)
    custom = limits_for(HubSpotSettings(tier="custom", per_ten_seconds=50, per_day=1000))
    assert (custom.per_ten_seconds, custom.search_per_second, custom.per_day) == (50, 5, 1000)
    assert Budget.from_settings(HubSpotSettings(tier="unlimited")).requests_per_second() is None


@contextmanager
def _place(places: AnswerWindow) -> Iterator[None]:
    places.acquire()
    try:
        yield
    finally:
        places.release()


def _arrivals(hold: Callable[[], AbstractContextManager[None]], requests: int, late_s: float
              ) -> list[float]:
    """When `requests` concurrent requests would reach HubSpot: half as they leave, half only
    `late_s` later, just before their answer (queued on the way, or counted late by a busy
    server)."""
    arrivals: list[float] = []
    lock = threading.Lock()

    def request(n: int) -> None:
        with hold():
            late = n % 2 == 0
            if not late:
                with lock:
                    arrivals.append(time.monotonic())
            time.sleep(late_s if late else 0.02)
            if late:
                with lock:
                    arrivals.append(time.monotonic())

    threads = [threading.Thread(target=request, args=(n,)) for n in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(arrivals)


def _closest(arrivals: list[float], limit: int) -> float:
    """The shortest time that holds `limit + 1` arrivals."""
    return min(arrivals[i + limit] - arrivals[i] for i in range(len(arrivals) - limit))


def test_no_window_of_arrivals_holds_more_than_the_limit_whatever_the_delays() -> None:
    """HubSpot counts arrivals; a request arrives anywhere between leaving and its answer.
    Counting departures alone would let 4 arrivals into one window here."""
    window = Window(3, 300)
    places = AnswerWindow(window)
    arrivals = _arrivals(lambda: _place(places), 12, late_s=0.12)
    assert len(arrivals) == 12
    assert _closest(arrivals, 3) >= window.ms / 1000 - 0.002  # 4 arrivals never fit in one window


def test_the_search_bucket_holds_whatever_the_delays() -> None:
    """HubSpot's 5 searches per second, counted on arrival, are never exceeded by our searches,
    even when some arrive (or are counted by a busy server) 0.3 s after they left. Counting
    from departure over 1.1 s let 6 arrivals into one second here (and one 429 into an
    incremental extract at `large`)."""
    budget = Budget.from_settings(HubSpotSettings(tier="pro"))
    arrivals = _arrivals(lambda: budget.request(search=True), 16, late_s=0.3)
    assert len(arrivals) == 16
    assert _closest(arrivals, 5) > 1.0  # HubSpot's second never holds a sixth search


def test_the_token_never_prints_or_pickles() -> None:
    secret = Secret("pat-na1-very-secret")
    assert "very-secret" not in f"{secret} {secret!r} {HubSpotSettings(access_token=secret)}"
    assert b"very-secret" not in pickle.dumps(secret)
    assert secret.reveal() == "pat-na1-very-secret"
    assert copy.deepcopy(HubSpotSettings(access_token=secret)).access_token.reveal() == (
        "pat-na1-very-secret")  # copies of a configuration still work


def test_configuration_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides beat hubseg env vars, which beat dlt's env form, which beats config.toml."""
    for name in ("HUBSPOT_BASE_URL", "HUBSPOT_TIER", "HUBSEG_WAREHOUSE",
                 "HUBSEG_DBT_MEMORY_LIMIT", "HUBSEG__DBT_MEMORY_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    assert load_config().hubspot.base_url == "https://api.hubapi.com"  # .dlt/config.toml
    monkeypatch.setenv("SOURCES__HUBSPOT__TIER", "starter")
    monkeypatch.setenv("SOURCES__HUBSPOT__INDEX_LAG_SECONDS", "5")
    assert load_config().hubspot.tier == "starter"
    assert load_config().extract.index_lag_seconds == 5.0
    monkeypatch.setenv("HUBSPOT_TIER", "enterprise")
    monkeypatch.setenv("HUBSEG_WAREHOUSE", "elsewhere/hubseg.duckdb")
    assert load_config().hubspot.tier == "enterprise"
    assert load_config().warehouse.path == Path("elsewhere/hubseg.duckdb")
    assert load_config(tier="custom", per_ten_seconds=10).hubspot.tier == "custom"
    assert load_config().warehouse.dbt_memory_limit == ""  # DuckDB's default
    monkeypatch.setenv("HUBSEG__DBT_MEMORY_LIMIT", "50%")
    assert load_config().warehouse.dbt_memory_limit == "50%"
    monkeypatch.setenv("HUBSEG_DBT_MEMORY_LIMIT", "4GB")
    assert load_config().warehouse.dbt_memory_limit == "4GB"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"tier": "platinum"}, "unknown HubSpot tier"),
    ({"api_version": "v4"}, "api_version"),
    ({"base_url": "api.hubapi.com"}, "http"),
    ({"max_url_chars": "lots"}, "not a valid int"),
    ({"dbt_memory_limit": "lots"}, "dbt_memory_limit .* must be an amount"),
    ({"dbt_memory_limit": "4"}, "dbt_memory_limit .* must be an amount"),  # 4 what?
])
def test_bad_configuration_says_what_is_wrong(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(**overrides)


def test_read_ahead_keeps_order_raises_in_place_and_stops_when_closed() -> None:
    from pipelines.hubspot.read_ahead import read_ahead

    def failing() -> Iterator[int]:
        yield from range(5)
        raise ValueError("page 6 failed")

    seen: list[int] = []
    with pytest.raises(ValueError, match="page 6 failed"):
        seen.extend(read_ahead(failing(), depth=2))
    assert seen == [0, 1, 2, 3, 4]  # every page before the failure, in order

    pages = read_ahead(iter(range(1_000)), depth=3)
    assert [next(pages), next(pages)] == [0, 1]
    pages.close()  # the worker, blocked on a full queue, must notice and end
    deadline = time.monotonic() + 10
    while _read_ahead_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _read_ahead_threads()


def _read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hubspot-read-ahead"]


def test_association_snapshots_keep_only_the_contacts_asked_for() -> None:
    """A batch read answering under an id nobody asked for (HubSpot following a merged-away
    input to its survivor) must not fail the run, nor snapshot that id with one target type."""
    from types import SimpleNamespace

    from pipelines.hubspot import associations

    def post(path: str, body: dict[str, Any], resource: str) -> dict[str, Any]:
        to_type = path.split("/")[-3]
        return {"results": [{"from": {"id": "7"}, "to": [{"toObjectId": 70}]},
                            {"from": {"id": "99"}, "to": [{"toObjectId": 990}]}]
                if to_type == "deals" else []}

    paths = SimpleNamespace(association_batch_read=lambda f, t: f"/crm/v4/associations/{f}/{t}"
                                                                 "/batch/read")
    ctx = SimpleNamespace(settings=SimpleNamespace(association_batch_size=100),
                          client=SimpleNamespace(post=post, paths=paths))
    assert associations.fetch(ctx, ["7", "8"]) == [
        {"contact_id": "7", "deals": [{"deal_id": "70"}], "companies": []},
        {"contact_id": "8", "deals": [], "companies": []}]
