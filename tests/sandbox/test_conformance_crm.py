"""Conformance of the CRM API (hubspot-api.md §3–5, §12.3, §13) through the real SDK.

`hubspot-api-client` 12.0.0 is pointed at the sandbox and used as clients use it: `get_all`,
`get_page`, `get_by_id`, search, batch read/update/upsert, properties and groups, v4
associations and pipelines. Expected values come from the server's SQLite store, so the API
is checked against the data it serves, not against numbers repeated here. Date-versioned
paths and query-string styles the SDK cannot produce are driven with `requests`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.contacts.exceptions import (
    ApiException,
    ForbiddenException,
    NotFoundException,
    UnauthorizedException,
)
from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate, PropertyUpdate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from sandbox.server.process import RunningServer
from sandbox.store import connect, iso_ms
from tests.sandbox.helpers import sdk

LAST_MODIFIED = {"contacts": "lastmodifieddate", "deals": "hs_lastmodifieddate",
                 "companies": "hs_lastmodifieddate"}
SYSTEM = {"createdate", "hs_object_id"}


# -- helpers ------------------------------------------------------------------------------------



def http(server: RunningServer, method: str, path: str, token: str | None = None,
         **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or server.token}"}
    return requests.request(method, server.base_url + path, headers=headers, timeout=60,
                            **kwargs)


def rows(con: sqlite3.Connection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return con.execute(sql, params).fetchall()


def live_ids(con: sqlite3.Connection, object_type: str) -> set[str]:
    return {str(r[0]) for r in rows(con, "select id from objects where object_type = ? "
                                         "and archived = 0", object_type)}


def props_of(con: sqlite3.Connection, object_type: str, object_id: str) -> dict[str, Any]:
    return json.loads(rows(con, "select props from objects where object_type = ? and id = ?",
                           object_type, int(object_id))[0][0])


def error_body(exc: Any) -> dict[str, Any]:
    return json.loads(exc.body)


def search_all(client: HubSpot, filter_groups: list[dict[str, Any]], **extra: Any
               ) -> tuple[list[str], int]:
    """Every id a search returns, following `after` pages of 200; and the reported total."""
    ids: list[str] = []
    after = "0"
    while True:
        page = client.crm.contacts.search_api.do_search(
            public_object_search_request=PublicObjectSearchRequest(
                filter_groups=filter_groups, limit=200, after=after, **extra))
        ids.extend(r.id for r in page.results)
        if page.paging is None:
            return ids, page.total
        after = page.paging.next.after


def contacts(con: sqlite3.Connection) -> list[dict[str, Any]]:
    """Live contacts as {id, created_ms, updated_ms, props} for computing expected answers."""
    return [{"id": str(i), "created": c, "updated": u, "props": json.loads(p)}
            for i, c, u, p in rows(con, "select id, created_ms, updated_ms, props from objects "
                                        "where object_type = 'contacts' and archived = 0")]


def expect(con: sqlite3.Connection, predicate: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {c["id"] for c in contacts(con) if predicate(c)}


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contact_with_deals(store: sqlite3.Connection) -> tuple[str, set[str]]:
    """A live contact with live associated deals, and those deal ids."""
    row = rows(store, "select a.from_id from associations a join objects o on o.object_type = "
                      "'contacts' and o.id = a.from_id and o.archived = 0 where a.from_type = "
                      "'contacts' and a.to_type = 'deals' group by a.from_id "
                      "order by count(*) desc limit 1")
    contact_id = row[0][0]
    deals = {str(r[0]) for r in rows(
        store, "select a.to_id from associations a join objects o on o.object_type = 'deals' "
               "and o.id = a.to_id and o.archived = 0 where a.from_type = 'contacts' "
               "and a.from_id = ? and a.to_type = 'deals'", contact_id)}
    return str(contact_id), deals


# -- list, get_all and paging -------------------------------------------------------------------

@pytest.mark.parametrize("object_type", ["contacts", "deals", "companies"])
def test_get_all_returns_every_live_record(client, store, object_type):
    api = getattr(client.crm, object_type)
    records = api.get_all(properties=["hs_object_id"])
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids))
    assert set(ids) == live_ids(store, object_type)
    assert all(r.archived is False and r.created_at.tzinfo is not None for r in records)


def test_get_page_serves_string_values_from_the_store(client, store):
    page = client.crm.contacts.basic_api.get_page(
        limit=100, properties=["email", "firstname", "nps_score", "hs_email_open"],
        archived=False)
    assert len(page.results) == 100
    assert page.paging.next.after
    for record in page.results:
        stored = props_of(store, "contacts", record.id)
        assert set(record.properties) == {"email", "firstname", "nps_score", "hs_email_open",
                                          "createdate", "hs_object_id", "lastmodifieddate"}
        for name in ("email", "firstname", "nps_score", "hs_email_open"):
            assert record.properties[name] == stored.get(name)
            assert record.properties[name] is None or isinstance(record.properties[name], str)
        assert record.properties["hs_object_id"] == record.id


@pytest.mark.parametrize(("object_type", "defaults"), [
    ("contacts", {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                  "lastname"}),
    ("deals", {"amount", "closedate", "createdate", "dealname", "dealstage",
               "hs_lastmodifieddate", "hs_object_id", "pipeline"}),
    ("companies", {"createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"}),
])
def test_default_properties(client, object_type, defaults):
    page = getattr(client.crm, object_type).basic_api.get_page(limit=5)
    assert all(set(r.properties) == defaults for r in page.results)


def test_both_list_parameter_styles_and_boolean_spellings(shared_server):
    path = "/crm/v3/objects/contacts?limit=20&properties="
    comma = http(shared_server, "GET", path + "email,firstname&archived=false").json()
    repeated = http(shared_server, "GET",
                    path + "email&properties=firstname&archived=False").json()
    upper = http(shared_server, "GET", path + "email,firstname&archived=FALSE").json()
    assert comma["results"] == repeated["results"] == upper["results"]
    assert {"email", "firstname"} <= set(comma["results"][0]["properties"])


def test_archived_true_lists_only_archived_records(client, store):
    archived = client.crm.contacts.get_all(archived=True)
    expected = {str(r[0]) for r in rows(store, "select id from objects where object_type = "
                                               "'contacts' and archived = 1")}
    assert expected
    assert {r.id for r in archived} == expected
    assert all(r.archived and r.archived_at is not None for r in archived)


def test_paging_link_is_absolute_and_last_page_has_no_paging(shared_server, store):
    url = f"{shared_server.base_url}/crm/v3/objects/deals?limit=100&properties=dealname"
    seen: list[str] = []
    while url:
        page = requests.get(url, headers={"Authorization": f"Bearer {shared_server.token}"},
                            timeout=60).json()
        seen.extend(r["id"] for r in page["results"])
        assert all("dealname" in r["properties"] for r in page["results"])
        url = page["paging"]["next"]["link"] if "paging" in page else None
        assert url is None or url.startswith(shared_server.base_url + "/crm/v3/objects/deals?")
    assert sorted(seen) == sorted(live_ids(store, "deals"))


@pytest.mark.parametrize(("query", "status"), [
    ("limit=100", 200), ("limit=101", 400), ("limit=0", 400),
    ("limit=50&propertiesWithHistory=firstname", 200),
    ("limit=51&propertiesWithHistory=firstname", 400),
    ("after=not-a-cursor", 400), ("archived=maybe", 400),
])
def test_list_limits(shared_server, query, status):
    response = http(shared_server, "GET", f"/crm/v3/objects/contacts?{query}")
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["category"] == "VALIDATION_ERROR"


# -- get one ------------------------------------------------------------------------------------

def test_get_by_id_and_by_email(client, store):
    contact_id, email = rows(store, "select id, json_extract(props, '$.email') from objects "
                                    "where object_type = 'contacts' and archived = 0 and "
                                    "email_key is not null order by id limit 1")[0]
    by_id = client.crm.contacts.basic_api.get_by_id(str(contact_id), properties=["email"])
    assert by_id.id == str(contact_id)
    assert by_id.properties["email"] == email
    by_email = client.crm.contacts.basic_api.get_by_id(email.upper(), id_property="email")
    assert by_email.id == str(contact_id)


def test_missing_record_is_a_404_with_hubspots_body(client):
    with pytest.raises(NotFoundException) as caught:
        client.crm.contacts.basic_api.get_by_id("1")
    body = error_body(caught.value)
    assert body["message"] == "Object not found.  objectId are usually numeric."
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["context"] == {"id": ["1"]}
    assert body["correlationId"] == caught.value.headers["X-HubSpot-Correlation-Id"]


def test_merged_away_id_returns_the_survivor(client, store):
    old_id, new_id = rows(store, "select old_id, new_id from merged_ids where object_type = "
                                 "'contacts' limit 1")[0]
    record = client.crm.contacts.basic_api.get_by_id(str(old_id))
    assert record.id == str(new_id)


def test_properties_with_history(client, store):
    contact_id, name = rows(store, "select h.object_id, h.name from history h join objects o on "
                                   "o.object_type = 'contacts' and o.id = h.object_id and "
                                   "o.archived = 0 where h.object_type = 'contacts' "
                                   "limit 1")[0]
    record = client.crm.contacts.basic_api.get_by_id(str(contact_id),
                                                     properties_with_history=[name])
    history = record.properties_with_history[name]
    stored = rows(store, "select count(*) from history where object_type = 'contacts' and "
                         "object_id = ? and name = ?", contact_id, name)[0][0]
    assert len(history) == stored
    timestamps = [h.timestamp for h in history]
    assert timestamps == sorted(timestamps, reverse=True)  # newest first
    assert history[0].value == props_of(store, "contacts", str(contact_id)).get(name)


# -- associations -------------------------------------------------------------------------------

def test_inline_associations_use_v3_type_names(client, contact_with_deals):
    contact_id, deals = contact_with_deals
    record = client.crm.contacts.basic_api.get_by_id(contact_id, associations=["deals"])
    results = record.associations["deals"].results
    assert {a.id for a in results} == deals
    assert {a.type for a in results} == {"contact_to_deal"}


def test_v4_association_list(client, contact_with_deals):
    contact_id, deals = contact_with_deals
    page = client.crm.associations.v4.basic_api.get_page("contacts", contact_id, "deals",
                                                         limit=500)
    assert {str(r.to_object_id) for r in page.results} == deals
    assert page.paging is None
    assert all(t.category == "HUBSPOT_DEFINED" and t.type_id == 4
               for r in page.results for t in r.association_types)


def test_v4_association_paging_on_a_busy_company(shared_server, store):
    company_id, expected = _busiest_company(store)
    url = f"/crm/v4/objects/companies/{company_id}/associations/contacts?limit=40"
    seen: list[int] = []
    while True:
        page = http(shared_server, "GET", url).json()
        seen.extend(r["toObjectId"] for r in page["results"])
        if "paging" not in page:
            break
        url = page["paging"]["next"]["link"].removeprefix(shared_server.base_url)
    assert len(seen) == len(set(seen))
    assert {str(i) for i in seen} == expected
    assert all(isinstance(i, int) for i in seen)  # a JSON number, as real v4 answers


def test_inline_associations_page_and_the_link_works(server):
    """A record inlines `inlineAssociationsMax` ids per type (HubSpot: 100); the rest are
    behind `paging.next.link`, a working URL of the v3 association list."""
    con = connect(server.store, readonly=True)
    company_id, expected = _busiest_company(con)
    con.close()
    inline_max = len(expected) // 3
    server.admin("PUT", "config", json={"limits": {"inlineAssociationsMax": inline_max}})
    record = http(server, "GET",
                  f"/crm/v3/objects/companies/{company_id}?associations=contacts").json()
    inline = record["associations"]["contacts"]
    assert len(inline["results"]) == inline_max
    seen = [a["id"] for a in inline["results"]]
    link = inline["paging"]["next"]["link"]
    while link:
        page = requests.get(link, headers={"Authorization": f"Bearer {server.token}"},
                            timeout=60).json()
        seen.extend(a["id"] for a in page["results"])
        link = page["paging"]["next"]["link"] if "paging" in page else None
    assert {a["type"] for a in inline["results"]} <= {"company_to_contact",
                                                      "company_to_contact_unlabeled"}
    assert set(seen) == expected


def _busiest_company(store: sqlite3.Connection) -> tuple[int, set[str]]:
    """The company with most live contacts, and those contact ids."""
    company_id = rows(store, "select a.from_id from associations a join objects o on "
                             "o.object_type = 'contacts' and o.id = a.to_id and o.archived = 0 "
                             "where a.from_type = 'companies' and a.to_type = 'contacts' "
                             "group by a.from_id order by count(distinct a.to_id) desc "
                             "limit 1")[0][0]
    contact_ids = {str(r[0]) for r in rows(
        store, "select distinct a.to_id from associations a join objects o on o.object_type = "
               "'contacts' and o.id = a.to_id and o.archived = 0 where a.from_type = "
               "'companies' and a.from_id = ? and a.to_type = 'contacts'", company_id)}
    return company_id, contact_ids


def test_v4_batch_read_reports_records_without_associations(client, store,
                                                            contact_with_deals):
    contact_id, deals = contact_with_deals
    lonely = rows(store, "select id from objects o where object_type = 'contacts' and "
                         "archived = 0 and not exists (select 1 from associations a where "
                         "a.from_type = 'contacts' and a.from_id = o.id and a.to_type = "
                         "'deals') limit 1")[0][0]
    result = client.crm.associations.v4.batch_api.get_page(
        "contacts", "deals",
        batch_input_public_fetch_associations_batch_request={
            "inputs": [{"id": contact_id}, {"id": str(lonely)}]})
    assert [r._from.id for r in result.results] == [contact_id]
    assert {str(t.to_object_id) for t in result.results[0].to} == deals
    assert result.num_errors == 1
    error = result.errors[0]
    assert error.sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert error.context["fromObjectId"] == [str(lonely)]


# -- search -------------------------------------------------------------------------------------

def _num(value: Any) -> float | None:
    return None if value is None else float(value)


@pytest.mark.parametrize(("filters", "predicate"), [
    ([{"propertyName": "nps_score", "operator": "GTE", "value": "9"}],
     lambda c: (_num(c["props"].get("nps_score")) or -1) >= 9),
    ([{"propertyName": "nps_score", "operator": "LT", "value": 3}],
     lambda c: _num(c["props"].get("nps_score")) is not None
     and _num(c["props"].get("nps_score")) < 3),
    ([{"propertyName": "hs_email_open", "operator": "GT", "value": "10"},
      {"propertyName": "hs_email_click", "operator": "LTE", "value": "2"}],
     lambda c: (_num(c["props"].get("hs_email_open")) or 0) > 10
     and _num(c["props"].get("hs_email_click")) is not None
     and _num(c["props"].get("hs_email_click")) <= 2),
    ([{"propertyName": "lifecyclestage", "operator": "NEQ", "value": "CUSTOMER"}],
     lambda c: c["props"].get("lifecyclestage") != "customer"),
    ([{"propertyName": "lifecyclestage", "operator": "IN", "values": ["lead", "customer"]}],
     lambda c: c["props"].get("lifecyclestage") in ("lead", "customer")),
    ([{"propertyName": "lifecyclestage", "operator": "NOT_IN", "values": ["lead", "other"]}],
     lambda c: c["props"].get("lifecyclestage") not in ("lead", "other")),
    ([{"propertyName": "phone", "operator": "HAS_PROPERTY"}],
     lambda c: bool(c["props"].get("phone"))),
    ([{"propertyName": "phone", "operator": "NOT_HAS_PROPERTY"}],
     lambda c: not c["props"].get("phone")),
    ([{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@gmail.com"}],
     lambda c: (c["props"].get("email") or "").lower().endswith("@gmail.com")),
    ([{"propertyName": "email", "operator": "NOT_CONTAINS_TOKEN", "value": "*@gmail.com"}],
     lambda c: not (c["props"].get("email") or "").lower().endswith("@gmail.com")),
    ([{"propertyName": "interests", "operator": "EQ", "value": "ai"}],
     lambda c: "ai" in (c["props"].get("interests") or "").split(";")),
    ([{"propertyName": "newsletter_signup_date", "operator": "BETWEEN",
       "value": "2025-01-01", "highValue": "2025-06-30"}],
     lambda c: "2025-01-01" <= (c["props"].get("newsletter_signup_date") or "") <= "2025-06-30"),
], ids=["GTE-number", "LT-number", "GT-and-LTE", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY",
        "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN", "EQ-multi-checkbox",
        "BETWEEN-date"])
def test_search_operators_match_the_store(client, store, filters, predicate):
    ids, total = search_all(client, [{"filters": filters}])
    expected = expect(store, predicate)
    assert expected, "the portal should hold matching records for a meaningful check"
    assert len(ids) == len(set(ids)) == total
    assert set(ids) == expected


def test_search_eq_email_is_case_insensitive(client, store):
    email = rows(store, "select json_extract(props, '$.email') from objects where object_type "
                        "= 'contacts' and archived = 0 and email_key is not null limit 1")[0][0]
    ids, _ = search_all(client, [{"filters": [{"propertyName": "email", "operator": "EQ",
                                               "value": email.upper()}]}])
    assert set(ids) == expect(store, lambda c: (c["props"].get("email") or "").lower()
                              == email.lower())


def test_search_datetime_filters_take_epoch_ms_or_iso(client, store):
    created = sorted(c["created"] for c in contacts(store))
    low, high = created[len(created) // 4], created[len(created) // 2]
    expected = expect(store, lambda c: low <= c["created"] <= high)
    for value, high_value in ((str(low), str(high)), (_iso(low), _iso(high))):
        ids, _ = search_all(client, [{"filters": [{"propertyName": "createdate",
                                                   "operator": "BETWEEN", "value": value,
                                                   "highValue": high_value}]}])
        assert set(ids) == expected


def _iso(ms: int) -> str:
    return iso_ms(ms) or ""


def test_search_filter_groups_are_ored(client, store):
    groups = [{"filters": [{"propertyName": "lifecyclestage", "operator": "EQ",
                            "value": "customer"}]},
              {"filters": [{"propertyName": "nps_score", "operator": "GTE", "value": "9"}]}]
    ids, _ = search_all(client, groups)
    assert set(ids) == expect(store, lambda c: c["props"].get("lifecyclestage") == "customer"
                              or (_num(c["props"].get("nps_score")) or -1) >= 9)


@pytest.mark.parametrize("sorts", [[{"propertyName": "createdate", "direction": "DESCENDING"}],
                                   ["-createdate"]])
def test_search_sorts(client, store, sorts):
    page = client.crm.contacts.search_api.do_search(public_object_search_request=(
        PublicObjectSearchRequest(sorts=sorts, limit=50, properties=["email"])))
    newest = sorted(contacts(store), key=lambda c: (-c["created"], int(c["id"])))[:50]
    assert [r.id for r in page.results] == [c["id"] for c in newest]
    assert all(set(r.properties) == {"email", "createdate", "hs_object_id", "lastmodifieddate"}
               for r in page.results)


def test_search_free_text_query(client, store):
    lastname = rows(store, "select json_extract(props, '$.lastname') from objects where "
                           "object_type = 'contacts' and archived = 0 limit 1")[0][0]
    page = client.crm.contacts.search_api.do_search(public_object_search_request=(
        PublicObjectSearchRequest(query=lastname, limit=200)))
    assert page.total >= 1
    assert all(lastname.lower() in " ".join(str(v).lower() for v in r.properties.values())
               for r in page.results)


def test_search_past_the_last_page_still_reports_the_total(client, store):
    filters = [{"filters": [{"propertyName": "nps_score", "operator": "GTE", "value": "9"}]}]
    expected = expect(store, lambda c: (_num(c["props"].get("nps_score")) or -1) >= 9)
    page = client.crm.contacts.search_api.do_search(public_object_search_request=(
        PublicObjectSearchRequest(filter_groups=filters, limit=10, after=str(len(expected)))))
    assert page.results == []
    assert page.total == len(expected)
    assert page.paging is None


def test_search_query_with_json_special_characters(client):
    page = client.crm.contacts.search_api.do_search(public_object_search_request=(
        PublicObjectSearchRequest(query='o"brien \\', limit=10)))
    assert page.total == 0


def test_incremental_search_pattern(client, store):
    """`lastmodifieddate GTE t` sorted by hs_object_id, restarting with `hs_object_id GT`."""
    updated = sorted(c["updated"] for c in contacts(store))
    since = updated[len(updated) // 3]
    first = client.crm.contacts.search_api.do_search(public_object_search_request=(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE",
                                         "value": str(since)}]}],
            sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}], limit=100)))
    ids = [int(r.id) for r in first.results]
    assert ids == sorted(ids)
    rest, _ = search_all(client, [{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since)},
        {"propertyName": "hs_object_id", "operator": "GT", "value": str(ids[-1])}]}],
        sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}])
    expected = expect(store, lambda c: c["updated"] >= since)
    assert first.total == len(expected)
    assert {str(i) for i in ids} | set(rest) == expected


@pytest.mark.parametrize("request_body", [
    {"limit": 201}, {"limit": 200, "after": "9900"}, {"after": "9991"},
    {"filterGroups": [{"filters": [{"propertyName": "no_such_property", "operator": "EQ",
                                    "value": "x"}]}]},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE",
                                    "value": "x"}]}]},
    {"filterGroups": [{"filters": []}] * 6},
])
def test_search_limits_are_400(shared_server, request_body):
    response = http(shared_server, "POST", "/crm/v3/objects/contacts/search", json=request_body)
    assert response.status_code == 400, response.text
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_search_over_the_cap_raises_the_sdks_api_exception(client):
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.search_api.do_search(public_object_search_request=(
            PublicObjectSearchRequest(limit=100, after="9950")))
    assert caught.value.status == 400
    assert "10000" in error_body(caught.value)["message"]


# -- batch read ---------------------------------------------------------------------------------

def test_batch_read_reports_missing_ids_in_a_207(client, store):
    present = sorted(live_ids(store, "contacts"))[:3]
    data, status, _ = client.crm.contacts.batch_api.read_with_http_info(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in [*present, "1", "2"]],
            properties=["email"], properties_with_history=[]))
    assert status == 207
    assert sorted(r.id for r in data.results) == present
    assert data.num_errors == 1
    assert data.errors[0].category == "OBJECT_NOT_FOUND"
    assert sorted(data.errors[0].context["ids"]) == ["1", "2"]


def test_batch_read_by_email(client, store):
    pairs = rows(store, "select id, json_extract(props, '$.email') from objects where "
                        "object_type = 'contacts' and archived = 0 and email_key is not null "
                        "and email_key in (select email_key from objects where object_type = "
                        "'contacts' and archived = 0 group by email_key having count(*) = 1) "
                        "limit 5")
    data = client.crm.contacts.batch_api.read(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": email} for _, email in pairs], "idProperty": "email",
            "properties": ["email"], "propertiesWithHistory": []})
    assert sorted(r.id for r in data.results) == sorted(str(i) for i, _ in pairs)


@pytest.mark.parametrize(("count", "history", "message"), [
    (51, ["firstname"], "The maximum number of inputs supported in a batch request for "
                        "property histories is 50. Please reduce the number of items and try "
                        "again"),
    (101, [], "The maximum number of inputs supported in a batch request is 100. Please "
              "reduce the number of items and try again"),
])
def test_batch_input_limits(client, count, history, message):
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.read(batch_read_input_simple_public_object_id={
            "inputs": [{"id": str(i)} for i in range(1, count + 1)], "properties": [],
            "propertiesWithHistory": history})
    assert caught.value.status == 400
    body = error_body(caught.value)
    assert body["message"] == message
    assert body["category"] == "VALIDATION_ERROR"


# -- batch writes (each on a fresh portal) ------------------------------------------------------

def _writes(server: RunningServer) -> list[dict[str, Any]]:
    return server.admin("GET", "writes").json()["writes"]


def test_batch_update_applies_valid_inputs_and_reports_missing_ids(make_server):
    server = make_server("--partial-failures", "207")  # multi-status when configured
    client = sdk(server)
    con = connect(server.store, readonly=True)
    first, second = sorted(live_ids(con, "contacts"))[:2]
    unchanged = props_of(con, "contacts", second)["firstname"]
    data, status, _ = client.crm.contacts.batch_api.update_with_http_info(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=first, properties={
                        "customer_tier": "gold", "interests": "ai;cloud"}),
                    SimplePublicObjectBatchInput(id=second, properties={
                        "firstname": unchanged}),
                    SimplePublicObjectBatchInput(id="1", properties={"firstname": "X"})]))
    assert status == 207
    assert data.num_errors == 1
    assert data.errors[0].context == {"ids": ["1"]}
    assert {r.id for r in data.results} == {first, second}
    stored = props_of(con, "contacts", first)
    assert (stored["customer_tier"], stored["interests"]) == ("gold", "ai;cloud")
    changed = {(w["objectId"], w["property"], w["newValue"]) for w in _writes(server)}
    assert changed == {(first, "customer_tier", "gold"), (first, "interests", "ai;cloud")}
    con.close()


def test_by_default_a_missing_id_refuses_the_whole_batch(make_server):
    server = make_server()  # the reference's default mode (its §13.7): a whole-batch 400
    client = sdk(server)
    con = connect(server.store, readonly=True)
    first = sorted(live_ids(con, "contacts"))[0]
    before = props_of(con, "contacts", first)
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.update(
            batch_input_simple_public_object_batch_input={"inputs": [
                {"id": first, "properties": {"firstname": "Changed"}},
                {"id": "1", "properties": {"firstname": "X"}}]})
    assert caught.value.status == 400
    assert error_body(caught.value)["context"] == {"ids": ["1"]}
    assert props_of(con, "contacts", first) == before
    assert _writes(server) == []
    con.close()


def test_invalid_values_reject_the_whole_batch(server):
    client = sdk(server)
    con = connect(server.store, readonly=True)
    first, second = sorted(live_ids(con, "contacts"))[:2]
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.update(
            batch_input_simple_public_object_batch_input={"inputs": [
                {"id": first, "properties": {"firstname": "Fine"}},
                {"id": second, "properties": {"interests": "ai;astrology", "shoe_size": "9",
                                              "hs_object_id": "5"}}]})
    assert caught.value.status == 400
    body = error_body(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    problems = {p["name"]: p for p in json.loads(body["message"].removeprefix(prefix))}
    assert problems["interests"]["error"] == "INVALID_OPTION"
    assert problems["interests"]["message"].startswith(
        "astrology was not one of the allowed options: [")
    assert problems["shoe_size"]["error"] == "PROPERTY_DOESNT_EXIST"
    assert problems["shoe_size"]["message"] == 'Property "shoe_size" does not exist'
    assert problems["hs_object_id"]["error"] == "READ_ONLY_VALUE"
    assert _writes(server) == []
    con.close()


def test_upsert_by_email_updates_or_creates(server):
    client = sdk(server)
    con = connect(server.store, readonly=True)
    contact_id, email = rows(con, "select id, json_extract(props, '$.email') from objects "
                                  "where object_type = 'contacts' and archived = 0 and "
                                  "email_key is not null order by id limit 1")[0]
    result = client.crm.contacts.batch_api.upsert(
        batch_input_simple_public_object_batch_input_upsert={"inputs": [
            {"id": email.upper(), "idProperty": "email", "properties": {"lastname": "Known"}},
            {"id": "brand.new@example.org", "idProperty": "email",
             "properties": {"lastname": "New"}}]})
    by_new = {r.new: r for r in result.results}
    assert by_new[False].id == str(contact_id)
    created = props_of(con, "contacts", by_new[True].id)
    assert created["email"] == "brand.new@example.org"
    assert created["lastname"] == "New"
    assert props_of(con, "contacts", str(contact_id))["lastname"] == "Known"
    con.close()


def test_create_answers_201_and_a_duplicate_email_409(server):
    client = sdk(server)
    con = connect(server.store, readonly=True)
    deal_id = sorted(live_ids(con, "deals"))[0]
    created, status, _ = client.crm.contacts.basic_api.create_with_http_info(
        simple_public_object_input_for_create={
            "properties": {"email": "fresh@example.org", "firstname": "Fresh"},
            "associations": [{"to": {"id": deal_id}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}]}]})
    assert status == 201
    assert created.properties["firstname"] == "Fresh"
    page = client.crm.associations.v4.basic_api.get_page("deals", deal_id, "contacts")
    assert created.id in {str(r.to_object_id) for r in page.results}
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.create(simple_public_object_input_for_create={
            "properties": {"email": "FRESH@example.org"}})
    assert caught.value.status == 409
    body = error_body(caught.value)
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {created.id}"
    con.close()


# -- properties and groups ----------------------------------------------------------------------

def test_property_group_and_property_lifecycle(server):
    client = sdk(server)
    groups, core = client.crm.properties.groups_api, client.crm.properties.core_api
    group = groups.create(object_type="contacts", property_group_create=PropertyGroupCreate(
        name="segments", label="Segments", display_order=-1))
    assert (group.name, group.label, group.archived) == ("segments", "Segments", False)
    with pytest.raises(PropertiesApiException) as caught:
        groups.create(object_type="contacts", property_group_create=PropertyGroupCreate(
            name="segments", label="Again"))
    assert caught.value.status == 409
    option = OptionInput(label="A", value="a", display_order=0, hidden=False)
    created = core.create(object_type="contacts", property_create=PropertyCreate(
        name="seg", label="Seg", type="enumeration", field_type="checkbox",
        group_name="segments", options=[option]))
    assert (created.name, created.type, created.field_type) == ("seg", "enumeration",
                                                               "checkbox")
    assert created.modification_metadata.read_only_value is False
    updated = core.update(object_type="contacts", property_name="seg",
                          property_update=PropertyUpdate(label="Segment", options=[
                              OptionInput(label="B", value="b", display_order=0,
                                          hidden=False)]))
    assert [o.value for o in updated.options] == ["b"]  # replaced, not merged
    read = core.get_by_name(object_type="contacts", property_name="seg")
    assert (read.label, [o.value for o in read.options]) == ("Segment", ["b"])
    with pytest.raises(PropertiesApiException) as caught:
        core.create(object_type="contacts", property_create=PropertyCreate(
            name="seg", label="Seg", type="string", field_type="text", group_name="segments"))
    assert caught.value.status == 409
    assert error_body(caught.value)["category"] == "OBJECT_ALREADY_EXISTS"
    con = connect(server.store, readonly=True)
    contact_id = sorted(live_ids(con, "contacts"))[0]
    con.close()
    client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={
        "properties": {"seg": "b"}})
    with pytest.raises(ApiException) as caught:  # "a" is no longer an option
        client.crm.contacts.basic_api.update(contact_id, simple_public_object_input={
            "properties": {"seg": "a"}})
    assert caught.value.status == 400


def test_property_type_and_field_type_must_match(client):
    with pytest.raises(PropertiesApiException) as caught:
        client.crm.properties.core_api.create(object_type="contacts", property_create={
            "name": "mismatch", "label": "M", "type": "number", "fieldType": "text",
            "groupName": "contactinformation"})
    assert caught.value.status == 400


def test_property_reads_match_the_store(client, store):
    listed = client.crm.properties.core_api.get_all(object_type="deals", archived=False)
    names = {r[0] for r in rows(store, "select name from properties where object_type = "
                                       "'deals' and archived = 0")}
    assert {p.name for p in listed.results} == names
    stage = client.crm.properties.core_api.get_by_name(object_type="deals",
                                                       property_name="dealstage")
    assert stage.type == "enumeration"
    assert stage.options


# -- pipelines ----------------------------------------------------------------------------------

def test_deal_pipelines(client, store):
    stored = {r[0]: json.loads(r[1]) for r in rows(store, "select id, definition from "
                                                          "pipelines where object_type = "
                                                          "'deals'")}
    pipelines = client.crm.pipelines.pipelines_api.get_all(object_type="deals").results
    assert {p.id for p in pipelines} == set(stored)
    for pipeline in pipelines:
        assert [s.id for s in pipeline.stages] == [s["id"] for s in stored[pipeline.id]["stages"]]
        assert all(s.metadata["isClosed"] in ("true", "false") for s in pipeline.stages)
    one = client.crm.pipelines.pipeline_stages_api.get_all(object_type="deals",
                                                           pipeline_id=pipelines[0].id)
    assert [s.id for s in one.results] == [s.id for s in pipelines[0].stages]


# -- date-versioned paths -----------------------------------------------------------------------

@pytest.mark.parametrize(("classic", "dated"), [
    ("/crm/v3/objects/contacts?limit=5&properties=email",
     "/crm/objects/2026-03/contacts?limit=5&properties=email"),
    ("/crm/v3/objects/deals?limit=5", "/crm/objects/2026-03/0-3?limit=5"),
    ("/crm/v3/properties/companies/name", "/crm/properties/2026-03/companies/name"),
    ("/crm/v3/properties/contacts/groups", "/crm/properties/2026-09-beta/contacts/groups"),
    ("/crm/v3/pipelines/deals", "/crm/pipelines/2026-03/deals"),
])
def test_date_versioned_paths_serve_the_same_answers(shared_server, classic, dated):
    old = http(shared_server, "GET", classic).json()
    new = http(shared_server, "GET", dated).json()
    old.pop("paging", None)
    new.pop("paging", None)
    assert old == new


def test_date_versioned_search_and_associations(shared_server, contact_with_deals):
    contact_id, deals = contact_with_deals
    body = {"filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "EQ",
                                           "value": contact_id}]}]}
    found = http(shared_server, "POST", "/crm/objects/2026-03/contacts/search", json=body).json()
    assert [r["id"] for r in found["results"]] == [contact_id]
    page = http(shared_server, "GET",
                f"/crm/objects/2026-03/contacts/{contact_id}/associations/deals").json()
    assert {str(r["toObjectId"]) for r in page["results"]} == deals
    batch = http(shared_server, "POST", "/crm/associations/2026-03/contacts/deals/batch/read",
                 json={"inputs": [{"id": contact_id}]})
    assert batch.status_code == 200
    assert {str(t["toObjectId"]) for t in batch.json()["results"][0]["to"]} == deals


# -- authentication and scopes ------------------------------------------------------------------

def test_unknown_token_is_a_401(shared_server):
    with pytest.raises(UnauthorizedException) as caught:
        sdk(shared_server, token="pat-na1-wrong").crm.contacts.basic_api.get_page()
    assert error_body(caught.value)["category"] == "INVALID_AUTHENTICATION"


def test_missing_scope_is_a_403(server):
    minted = server.admin("POST", "tokens", json={
        "name": "contacts-only", "scopes": ["crm.objects.contacts.read"]}).json()["token"]
    client = sdk(server, token=minted)
    assert client.crm.contacts.basic_api.get_page(limit=1).results
    with pytest.raises(ForbiddenException) as caught:
        client.crm.contacts.basic_api.update("1", simple_public_object_input={
            "properties": {"firstname": "x"}})
    body = error_body(caught.value)
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.objects.contacts.write"]
    with pytest.raises(PropertiesApiException) as caught:
        client.crm.properties.core_api.create(object_type="contacts", property_create={
            "name": "x", "label": "X", "type": "string", "fieldType": "text",
            "groupName": "contactinformation"})
    assert caught.value.status == 403
