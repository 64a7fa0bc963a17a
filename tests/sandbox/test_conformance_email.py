"""Conformance of the legacy email analytics v1 API (hubspot-api.md §7, §13.6) through the SDK.

`hubspot-api-client` reaches `/email/public/v1/*` only through `client.api_request`, which returns
the raw `requests.Response`; every call below goes that way, like singer's and Airbyte's taps.
Expected values are read straight from the server's SQLite store, so the API is checked against
the data it serves rather than against numbers repeated here.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hubspot import HubSpot

from sandbox.server.process import RunningServer
from tests.sandbox.helpers import sdk

EVENTS = "/email/public/v1/events"
CAMPAIGNS = "/email/public/v1/campaigns"


# -- helpers ------------------------------------------------------------------------------------



def get(client: HubSpot, path: str, **qs: Any) -> requests.Response:
    return client.api_request({"path": path, "qs": qs})


def ok_json(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return response.json()


def pages(client: HubSpot, path: str, **qs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a v1 listing, following `offset` while `hasMore`, as clients do."""
    offset: str | None = None
    while True:
        page = ok_json(get(client, path, **qs, **({"offset": offset} if offset else {})))
        assert isinstance(page["offset"], str)  # present on every page, the last one too
        yield page
        if not page["hasMore"]:
            return
        offset = page["offset"]


def all_events(client: HubSpot, **filters: Any) -> list[dict[str, Any]]:
    """Every event matching `filters`, 1,000 per page."""
    return [e for page in pages(client, EVENTS, limit=1000, **filters) for e in page["events"]]


def all_campaigns(client: HubSpot, path: str, limit: int) -> list[dict[str, Any]]:
    return [c for page in pages(client, path, limit=limit) for c in page["campaigns"]]


def scalar(con: sqlite3.Connection, sql: str, *params: Any) -> Any:
    return con.execute(sql, params).fetchone()[0]


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def events(client: HubSpot) -> list[dict[str, Any]]:
    """The whole event stream, fetched once through the API."""
    return all_events(client)


# -- events -------------------------------------------------------------------------------------

def test_paging_returns_every_event_once(events, store):
    assert len(events) == scalar(store, "select count(*) from email_events") > 1000
    assert len({(e["id"], e["created"]) for e in events}) == len(events)


def test_events_are_reverse_chronological(events):
    created = [e["created"] for e in events]
    assert created == sorted(created, reverse=True)


def test_event_shape(events, store):
    portal_id = int(scalar(store, "select value from meta where key = 'portal_id'"))
    for event in events[:2000]:
        assert {"id", "created", "type", "recipient", "portalId", "appId", "appName",
                "emailCampaignId", "filteredEvent"} <= event.keys()
        assert event["portalId"] == portal_id
        assert isinstance(event["created"], int)
        assert isinstance(event["filteredEvent"], bool)


def test_event_type_filter_counts(client, store):
    expected = dict(store.execute("select type, count(*) from email_events group by type"))
    assert len(expected) >= 5
    for event_type, count in expected.items():
        got = all_events(client, eventType=event_type)
        assert len(got) == count, event_type
        assert {e["type"] for e in got} == {event_type}
    # eventType is case-sensitive
    assert ok_json(get(client, EVENTS, eventType="sent", limit=5))["events"] == []


def test_timestamps_are_inclusive_at_both_ends(client, events, store):
    target = events[len(events) // 2]
    at = target["created"]
    same_ms = scalar(store, "select count(*) from email_events where created = ?", at)
    key = (target["id"], at)

    exact = all_events(client, startTimestamp=at, endTimestamp=at)
    assert len(exact) == same_ms
    assert key in {(e["id"], e["created"]) for e in exact}

    from_at = all_events(client, startTimestamp=at, endTimestamp=at + 86_400_000)
    until_at = all_events(client, startTimestamp=at - 86_400_000, endTimestamp=at)
    for window in (from_at, until_at):
        assert key in {(e["id"], e["created"]) for e in window}
    assert len(from_at) == scalar(
        store, "select count(*) from email_events where created between ? and ?",
        at, at + 86_400_000)

    before = all_events(client, startTimestamp=at - 86_400_000, endTimestamp=at - 1)
    after = all_events(client, startTimestamp=at + 1, endTimestamp=at + 86_400_000)
    assert all(e["created"] < at for e in before)
    assert all(e["created"] > at for e in after)


def test_exclude_filtered_events(client, store):
    kept = all_events(client, excludeFilteredEvents=True)  # sent as `True`, Python style
    assert len(kept) == scalar(store, "select count(*) from email_events where filtered_event = 0")
    assert not any(e["filteredEvent"] for e in kept)
    assert scalar(store, "select count(*) from email_events where filtered_event = 1") > 0


def test_campaign_and_recipient_filters(client, store):
    campaign_id, recipient = store.execute(
        "select email_campaign_id, recipient from email_events where type = 'OPEN' "
        "order by seq limit 1").fetchone()

    by_campaign = all_events(client, campaignId=campaign_id)
    assert len(by_campaign) == scalar(
        store, "select count(*) from email_events where email_campaign_id = ?", campaign_id)
    assert {e["emailCampaignId"] for e in by_campaign} == {campaign_id}

    by_recipient = all_events(client, recipient=recipient)
    assert len(by_recipient) == scalar(
        store, "select count(*) from email_events where recipient = ?", recipient)
    assert {e["recipient"] for e in by_recipient} == {recipient}

    both = all_events(client, campaignId=campaign_id, recipient=recipient, eventType="OPEN")
    assert both
    assert all(e["emailCampaignId"] == campaign_id and e["recipient"] == recipient
               and e["type"] == "OPEN" for e in both)


def test_app_id_filter(client, store):
    app_id, event_type = store.execute(
        "select app_id, type from email_events group by app_id, type order by count(*) "
        "limit 1").fetchone()
    got = all_events(client, appId=app_id, eventType=event_type)
    assert len(got) == scalar(store, "select count(*) from email_events "
                                     "where app_id = ? and type = ?", app_id, event_type)
    assert {e["appId"] for e in got} == {app_id}
    unknown = scalar(store, "select max(app_id) from email_events") + 1
    assert ok_json(get(client, EVENTS, appId=unknown, eventType=event_type))["events"] == []


def test_limit_default_and_bounds(client):
    assert len(ok_json(get(client, EVENTS))["events"]) == 10
    assert len(ok_json(get(client, EVENTS, limit=1))["events"]) == 1
    for bad in (0, 1001):
        response = get(client, EVENTS, limit=bad)
        assert response.status_code == 400, bad
        assert response.json()["status"] == "error"


def test_offset_is_bound_to_its_filters(client):
    first = ok_json(get(client, EVENTS, eventType="OPEN", limit=5))
    assert first["hasMore"]
    # same filters, another limit: fine (limit is not part of the binding)
    assert ok_json(get(client, EVENTS, eventType="OPEN", limit=7, offset=first["offset"]))
    for filters in ({"eventType": "CLICK"}, {}, {"eventType": "OPEN", "startTimestamp": 1}):
        response = get(client, EVENTS, limit=5, offset=first["offset"], **filters)
        assert response.status_code == 400, filters
    assert get(client, EVENTS, offset="not-an-offset").status_code == 400


def test_offsets_continue_without_gaps(client, store):
    """Pages of one event equal one big listing, across events sharing a millisecond."""
    tie = scalar(store, "select created from email_events group by created "
                        "having count(*) > 1 order by created limit 1")
    window = {"startTimestamp": tie - 5_000, "endTimestamp": tie + 5_000}
    listed = list(pages(client, EVENTS, limit=1, **window))
    pieces = [e for page in listed for e in page["events"]]
    assert pieces == all_events(client, **window)
    assert sum(e["created"] == tie for e in pieces) > 1
    # the last page's offset is still valid, and there is nothing after it
    tail = ok_json(get(client, EVENTS, limit=1, offset=listed[-1]["offset"], **window))
    assert tail["events"] == []
    assert tail["hasMore"] is False


def test_single_event(client, events):
    event = events[123]
    got = ok_json(get(client, f"{EVENTS}/{event['created']}/{event['id']}"))
    assert got == event

    bad = get(client, f"{EVENTS}/yesterday/{event['id']}")
    assert bad.status_code == 400
    assert bad.json()["message"] == "Unable to parse value for path parameter: created"
    assert get(client, f"{EVENTS}/{event['created'] + 1}/{event['id']}").status_code == 404


def test_sent_by_points_at_a_sent_event_of_the_same_message(client, events):
    sends = {(e["id"], e["created"]): e for e in events if e["type"] == "SENT"}
    assert sends
    for send in sends.values():  # a SENT event's sentBy is itself (Fivetran's send key)
        assert send["sentBy"] == {"id": send["id"], "created": send["created"]}
    followers = [e for e in events if e["type"] != "SENT" and "sentBy" in e]
    assert len(followers) > len(sends)
    for event in followers:
        sent = sends[(event["sentBy"]["id"], event["sentBy"]["created"])]
        assert sent["emailCampaignId"] == event["emailCampaignId"]
        assert sent["recipient"] == event["recipient"]
    # and the pointer resolves through the single-event endpoint
    ref = followers[0]["sentBy"]
    assert ok_json(get(client, f"{EVENTS}/{ref['created']}/{ref['id']}"))["type"] == "SENT"


# -- campaigns ----------------------------------------------------------------------------------

def test_campaigns_by_id_paging_covers_all(client, store):
    total = scalar(store, "select count(*) from email_campaigns")
    listed = all_campaigns(client, f"{CAMPAIGNS}/by-id", limit=3)
    assert sorted(c["id"] for c in listed) == [
        r[0] for r in store.execute("select id from email_campaigns order by id")]
    assert len(listed) == total
    for item in listed:
        assert set(item) == {"id", "appId", "appName", "lastUpdatedTime"}


def test_recent_campaigns_newest_activity_first(client, store):
    listed = all_campaigns(client, CAMPAIGNS, limit=4)
    assert len(listed) == scalar(store, "select count(*) from email_campaigns")
    updated = [c["lastUpdatedTime"] for c in listed]
    assert updated == sorted(updated, reverse=True)


def test_campaign_limit_bounds_and_foreign_offset(client):
    assert get(client, f"{CAMPAIGNS}/by-id", limit=0).status_code == 400
    assert get(client, f"{CAMPAIGNS}/by-id", limit=1001).status_code == 400
    offset = ok_json(get(client, f"{CAMPAIGNS}/by-id", limit=1))["offset"]
    assert get(client, CAMPAIGNS, limit=1, offset=offset).status_code == 400
    assert get(client, EVENTS, limit=1, offset=offset).status_code == 400


# The counter keys that count one event type each (lower-case type names, hubspot-api.md §7.2).
EVENT_COUNTERS = frozenset({"sent", "delivered", "open", "click", "bounce", "dropped", "deferred",
                            "processed", "spamreport", "statuschange", "print", "forward",
                            "suppressed"})


def test_campaign_counters_equal_the_events(client, store):
    ids = [r[0] for r in store.execute("select id from email_campaigns order by id")]
    for campaign_id in ids:
        campaign = ok_json(get(client, f"{CAMPAIGNS}/{campaign_id}"))
        assert {"id", "appId", "appName", "contentId", "name", "subject", "type", "subType",
                "numIncluded", "numQueued", "counters", "lastUpdatedTime"} <= campaign.keys()
        counters = campaign["counters"]
        events = all_events(client, campaignId=campaign_id)
        counted = Counter(e["type"].lower() for e in events)
        for key in EVENT_COUNTERS | counted.keys():
            assert counters.get(key, 0) == counted[key], (campaign_id, key)
        # `unsubscribed` is derived: the status changes that unsubscribed the recipient
        unsubscribes = sum(e.get("portalSubscriptionStatus") == "UNSUBSCRIBED" for e in events
                           if e["type"] == "STATUSCHANGE")
        assert counters.get("unsubscribed", 0) == unsubscribes, campaign_id


def test_unknown_campaign(client, store):
    missing = scalar(store, "select max(id) from email_campaigns") + 1
    assert get(client, f"{CAMPAIGNS}/{missing}").status_code == 404
    assert get(client, f"{CAMPAIGNS}/nope").status_code == 400


# -- scopes -------------------------------------------------------------------------------------

def token_without_content(server: RunningServer) -> str:
    """A private-app token holding a CRM scope but not `content`, minted by the admin surface."""
    response = server.admin("POST", "tokens", json={"name": "no-content",
                                                    "scopes": ["crm.objects.contacts.read"]})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_content_scope_required(shared_server):
    client = sdk(shared_server, token_without_content(shared_server))
    for path in (EVENTS, f"{CAMPAIGNS}/by-id", CAMPAIGNS):
        response = get(client, path)
        assert response.status_code == 403, path
        assert response.json()["category"] == "MISSING_SCOPES"
