"""CRM write semantics (hubspot-api.md §3.5–3.7, §5, §13.7): what a write changes in the store,
in `history` and in the write log, and what it must leave alone.

Most tests share one writable server and touch only records they create themselves; each
request carries its own `X-Request-Id`, so a test reads back exactly its own write-log rows.
Servers with special settings (search index lag) are started per test.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.deals import PublicMergeInput as DealMergeInput

from sandbox.server.process import RunningServer, start_server
from sandbox.store import connect

CONTACTS = "/crm/v3/objects/contacts"


class Api:
    """A tiny client for one server that tags every request with one request id."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.request_id = str(uuid.uuid4())

    def call(self, method: str, path: str, body: Any = None, *, status: int | None = None
             ) -> Any:
        response = requests.request(
            method, self.server.base_url + path, json=body, timeout=60,
            headers={"Authorization": f"Bearer {self.server.token}",
                     "X-Request-Id": self.request_id})
        if status is not None:
            assert response.status_code == status, response.text
        return response.json() if response.content else None

    def create_contact(self, **props: str) -> dict[str, Any]:
        email = props.pop("email", f"{uuid.uuid4().hex[:12]}@writes.example")
        return self.call("POST", CONTACTS, {"properties": {"email": email, **props}},
                         status=201)

    def writes(self) -> list[tuple[str | None, str | None, str | None]]:
        """(property, old, new) of this client's write-log rows, in order."""
        rows = self.server.admin("GET", "writes", params={"limit": 10_000}).json()["writes"]
        return [(w["property"], w["oldValue"], w["newValue"]) for w in rows
                if w["requestId"] == self.request_id]


def stored(server: RunningServer, object_type: str, object_id: str
           ) -> tuple[dict[str, Any], int, int]:
    """(props, updated_ms, archived) of one record, straight from the store."""
    con = connect(server.store, readonly=True)
    try:
        props, updated, archived = con.execute(
            "select props, updated_ms, archived from objects where object_type = ? and id = ?",
            (object_type, int(object_id))).fetchone()
    finally:
        con.close()
    return json.loads(props), updated, archived


def history(server: RunningServer, object_id: str, name: str) -> list[str | None]:
    con = connect(server.store, readonly=True)
    try:
        return [r[0] for r in con.execute(
            "select value from history where object_type = 'contacts' and object_id = ? and "
            "name = ? order by timestamp_ms, rowid", (int(object_id), name))]
    finally:
        con.close()


@pytest.fixture(scope="module")
def writable(small_portal: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[RunningServer]:
    dest = tmp_path_factory.mktemp("crm_writes") / "portal.sqlite"
    shutil.copyfile(small_portal, dest)
    with start_server(dest) as server:
        yield server


@pytest.fixture
def api(writable: RunningServer) -> Api:
    return Api(writable)


# -- values -------------------------------------------------------------------------------------

def test_create_logs_each_written_property_once(api):
    created = api.create_contact(email="Create.Log@writes.example", firstname="Ada",
                                 nps_score="7", lastname="")
    assert created["properties"]["lastname"] is None
    assert sorted(api.writes()) == [("email", None, "Create.Log@writes.example"),
                                    ("firstname", None, "Ada"), ("nps_score", None, "7")]
    props, _, _ = stored(api.server, "contacts", created["id"])
    assert props["hs_object_id"] == created["id"]
    assert "lastname" not in props


def test_multi_checkbox_replaces_the_set_and_empty_clears(api):
    contact_id = api.create_contact(interests="ai;cloud")["id"]
    path = f"{CONTACTS}/{contact_id}"
    api.call("PATCH", path, {"properties": {"interests": "hr"}}, status=200)
    assert stored(api.server, "contacts", contact_id)[0]["interests"] == "hr"
    cleared = api.call("PATCH", path, {"properties": {"interests": ""}}, status=200)
    assert cleared["properties"]["interests"] is None
    assert "interests" not in stored(api.server, "contacts", contact_id)[0]
    assert [w for w in api.writes() if w[0] == "interests"] == [
        ("interests", None, "ai;cloud"), ("interests", "ai;cloud", "hr"),
        ("interests", "hr", None)]
    assert history(api.server, contact_id, "interests") == ["ai;cloud", "hr", None]
    served = api.call("GET", f"{path}?propertiesWithHistory=interests")
    assert [h["value"] for h in served["propertiesWithHistory"]["interests"]] == [
        "", "hr", "ai;cloud"]


def test_unchanged_values_are_not_written(api):
    created = api.create_contact(firstname="Same")
    _, updated_before, _ = stored(api.server, "contacts", created["id"])
    before = api.writes()
    result = api.call("POST", f"{CONTACTS}/batch/update", {"inputs": [
        {"id": created["id"], "properties": {"firstname": "Same"}}]}, status=200)
    assert result["status"] == "COMPLETE"
    assert api.writes() == before
    assert stored(api.server, "contacts", created["id"])[1] == updated_before


def test_a_change_moves_last_modified_to_the_portal_clock(api):
    created = api.create_contact(firstname="Old")
    clock = api.server.admin("GET", "clock").json()["nowMs"]
    updated = api.call("PATCH", f"{CONTACTS}/{created['id']}",
                       {"properties": {"firstname": "New"}}, status=200)
    props, updated_ms, _ = stored(api.server, "contacts", created["id"])
    assert updated_ms >= clock
    assert updated["updatedAt"] == props["lastmodifieddate"] == updated["properties"][
        "lastmodifieddate"]
    assert updated["createdAt"] == created["createdAt"]


def test_epoch_ms_dates_are_stored_as_iso(api):
    deal = api.call("POST", "/crm/v3/objects/deals", {"properties": {
        "dealname": "Dated", "closedate": "1767225600000", "pipeline": "default",
        "dealstage": "appointmentscheduled"}}, status=201)
    assert stored(api.server, "deals", deal["id"])[0]["closedate"] == "2026-01-01T00:00:00.000Z"


def test_patch_by_email_with_a_percent_encoded_id(api):
    created = api.create_contact(email="enc+oded@writes.example")
    path = f"{CONTACTS}/ENC%2Boded%40writes.example?idProperty=email"
    patched = api.call("PATCH", path, {"properties": {"jobtitle": "Chef"}}, status=200)
    assert patched["id"] == created["id"]
    missing = api.call("PATCH", f"{CONTACTS}/nobody%40writes.example?idProperty=email",
                       {"properties": {"jobtitle": "Chef"}}, status=404)
    assert missing["context"] == {"id": ["nobody@writes.example"]}


# -- batches ------------------------------------------------------------------------------------

def test_batch_create_is_201_and_all_or_nothing(api):
    first = f"{uuid.uuid4().hex[:8]}@writes.example"
    made = api.call("POST", f"{CONTACTS}/batch/create", {"inputs": [
        {"properties": {"email": first}}, {"properties": {"email": "b-" + first}}]},
        status=201)
    assert len({r["id"] for r in made["results"]}) == 2
    conflict = api.call("POST", f"{CONTACTS}/batch/create", {"inputs": [
        {"properties": {"email": "c-" + first}}, {"properties": {"email": first.upper()}}]},
        status=409)
    assert conflict["category"] == "CONFLICT"
    found = api.call("POST", f"{CONTACTS}/search", {"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "EQ", "value": "c-" + first}]}]}, status=200)
    assert found["total"] == 0  # the valid first input was rolled back with the batch


def test_object_write_trace_ids_opt_into_per_input_errors(api):
    taken = api.create_contact()["properties"]["email"]
    fresh = f"{uuid.uuid4().hex[:8]}@writes.example"
    made = api.call("POST", f"{CONTACTS}/batch/create", {"inputs": [
        {"properties": {"email": fresh}, "objectWriteTraceId": "t1"},
        {"properties": {"email": taken}, "objectWriteTraceId": "t2"}]}, status=207)
    assert [r["properties"]["email"] for r in made["results"]] == [fresh]
    assert made["errors"][0]["category"] == "CONFLICT"
    assert made["errors"][0]["context"] == {"objectWriteTraceId": ["t2"]}
    api.server.admin("PUT", "config", json={"partialFailureMode": "400"})
    try:
        update = {"inputs": [{"id": made["results"][0]["id"], "properties": {"firstname": "T"},
                              "objectWriteTraceId": "t3"},
                             {"id": "1", "properties": {"firstname": "T"},
                              "objectWriteTraceId": "t4"}]}
        traced = api.call("POST", f"{CONTACTS}/batch/update", update, status=207)
        assert traced["numErrors"] == 1
        for item in update["inputs"]:
            del item["objectWriteTraceId"]
        api.call("POST", f"{CONTACTS}/batch/update", update, status=400)
    finally:
        api.server.admin("PUT", "config", json={"partialFailureMode": "207"})


def test_duplicate_ids_in_a_batch_are_rejected(api):
    contact_id = api.create_contact()["id"]
    body = api.call("POST", f"{CONTACTS}/batch/update", {"inputs": [
        {"id": contact_id, "properties": {"firstname": "A"}},
        {"id": contact_id, "properties": {"firstname": "B"}}]}, status=400)
    assert body["category"] == "VALIDATION_ERROR"
    assert contact_id in body["message"]


def test_batch_over_100_inputs_is_rejected(api):
    body = api.call("POST", f"{CONTACTS}/batch/update", {"inputs": [
        {"id": str(i), "properties": {"firstname": "x"}} for i in range(1, 102)]}, status=400)
    assert body["message"].startswith(
        "The maximum number of inputs supported in a batch request is 100")


def test_upsert_needs_a_unique_id_property(api):
    body = api.call("POST", f"{CONTACTS}/batch/upsert", {"inputs": [
        {"id": "1", "idProperty": "hs_object_id", "properties": {"firstname": "x"}}]},
        status=400)
    assert body["message"] == ("Unable to perform update/upsert by non-unique 0-1 property "
                               "hs_object_id")
    by_id = api.call("POST", f"{CONTACTS}/batch/upsert", {"inputs": [
        {"id": "1", "properties": {"firstname": "x"}}]}, status=207)
    assert by_id["errors"][0]["context"] == {"ids": ["1"]}


# -- archiving ----------------------------------------------------------------------------------

def test_archive_hides_a_record_everywhere_but_archived_reads(api):
    one, two = api.create_contact()["id"], api.create_contact()["id"]
    assert api.call("DELETE", f"{CONTACTS}/{one}", status=204) is None
    assert api.call("POST", f"{CONTACTS}/batch/archive", {"inputs": [{"id": two}]},
                    status=204) is None
    for contact_id in (one, two):
        api.call("GET", f"{CONTACTS}/{contact_id}", status=404)
        archived = api.call("GET", f"{CONTACTS}/{contact_id}?archived=true", status=200)
        assert archived["archived"] is True
        assert archived["archivedAt"]
        assert stored(api.server, "contacts", contact_id)[2] == 1
    found = api.call("POST", f"{CONTACTS}/search", {"filterGroups": [{"filters": [
        {"propertyName": "hs_object_id", "operator": "IN", "values": [one, two]}]}]})
    assert found["total"] == 0
    assert [w for w in api.writes() if w[0] is None] == [(None, None, None)] * 2
    api.call("DELETE", f"{CONTACTS}/{one}", status=204)  # again: still a no-op success


def test_merge_keeps_the_primary_and_reads_the_other_id_as_it(api):
    """Deals, through HubSpot's own SDK: the merged-away deal is gone from lists and search, its
    id reads as the primary, its contacts are the primary's, and the primary lists it in
    `hs_merged_object_ids` with a new last-modified time (what an incremental extract sees)."""
    contacts = [api.create_contact()["id"] for _ in range(3)]
    deals = [api.call("POST", "/crm/v3/objects/deals", {
        "properties": {"dealname": name, **extra},
        "associations": [{"to": {"id": c}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]} for c in linked],
    }, status=201)["id"] for name, extra, linked in (
        ("primary", {"amount": "100"}, contacts[:2]),
        ("other", {"amount": "250", "dealtype": "newbusiness"}, contacts[1:]))]
    before = stored(api.server, "deals", deals[0])[1]
    client = HubSpot(access_token=api.server.token, host=api.server.base_url)
    survivor = client.crm.deals.basic_api.merge(public_merge_input=DealMergeInput(
        primary_object_id=deals[0], object_id_to_merge=deals[1]))
    assert survivor.id == deals[0]
    assert survivor.properties["hs_merged_object_ids"] == deals[1]
    props, updated, _ = stored(api.server, "deals", deals[0])
    assert (props["amount"], props["dealname"], props["dealtype"]) == (
        "100", "primary", "newbusiness")  # the primary's values win; blanks are filled
    assert updated > before
    assert api.call("GET", f"/crm/v3/objects/deals/{deals[1]}", status=200)["id"] == deals[0]
    found = api.call("POST", "/crm/v3/objects/deals/search", {"filterGroups": [{"filters": [
        {"propertyName": "hs_object_id", "operator": "IN", "values": deals}]}]})
    assert [r["id"] for r in found["results"]] == [deals[0]]
    linked = api.call("GET", f"/crm/v4/objects/deals/{deals[0]}/associations/contacts")
    assert sorted(str(r["toObjectId"]) for r in linked["results"]) == sorted(contacts)
    back = api.call("GET", f"/crm/v4/objects/contacts/{contacts[2]}/associations/deals")
    assert [str(r["toObjectId"]) for r in back["results"]] == [deals[0]]
    api.call("POST", "/crm/v3/objects/deals/merge", {
        "primaryObjectId": deals[0], "objectIdToMerge": deals[1]}, status=400)  # merged already


def test_a_merged_contact_keeps_one_primary_company(api):
    """Each contact had a primary company: the survivor keeps its own as primary, the other's
    stays associated unlabeled, and the survivor keeps its own address."""
    companies = [api.call("POST", "/crm/v3/objects/companies",
                          {"properties": {"name": f"merge-co-{i}"}}, status=201)["id"]
                 for i in range(2)]
    contacts = [api.call("POST", CONTACTS, {
        "properties": {"email": f"{uuid.uuid4().hex[:12]}@writes.example"},
        "associations": [{"to": {"id": company}, "types": [
            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]}],
    }, status=201) for company in companies]
    api.call("POST", f"{CONTACTS}/merge", {"primaryObjectId": contacts[0]["id"],
                                           "objectIdToMerge": contacts[1]["id"]}, status=200)
    linked = api.call("GET", f"/crm/v4/objects/contacts/{contacts[0]['id']}/associations/"
                             "companies")["results"]
    types = {str(r["toObjectId"]): sorted(t["typeId"] for t in r["associationTypes"])
             for r in linked}
    assert types == {companies[0]: [1], companies[1]: [279]}
    props = stored(api.server, "contacts", contacts[0]["id"])[0]
    assert props["email"] == contacts[0]["properties"]["email"]


def test_a_portal_older_than_a_builtin_property_is_served_it(portal_copy: Path):
    """A portal generated before deals and companies had `hs_merged_object_ids` gets the
    definition when a server opens it, so an extract asks for it and sees merges."""
    con = connect(portal_copy)
    with con:
        con.execute("delete from properties where object_type in ('deals', 'companies') "
                    "and name = 'hs_merged_object_ids'")
    con.close()
    with start_server(portal_copy) as server:
        for object_type in ("deals", "companies"):
            answer = Api(server).call(
                "GET", f"/crm/v3/properties/{object_type}/hs_merged_object_ids", status=200)
            assert answer["hubspotDefined"] is True


# -- properties ---------------------------------------------------------------------------------

def test_property_archive_and_group_update(api):
    base = "/crm/v3/properties/contacts"
    api.call("POST", f"{base}/groups", {"name": "scratch", "label": "Scratch"}, status=201)
    renamed = api.call("PATCH", f"{base}/groups/scratch", {"label": "Renamed"}, status=200)
    assert renamed["label"] == "Renamed"
    api.call("POST", base, {"name": "scratch_flag", "label": "Flag", "type": "bool",
                            "fieldType": "booleancheckbox", "groupName": "scratch"},
             status=201)
    flag = api.call("GET", f"{base}/scratch_flag", status=200)
    assert [o["value"] for o in flag["options"]] == ["true", "false"]
    assert api.call("DELETE", f"{base}/scratch_flag", status=204) is None
    api.call("GET", f"{base}/scratch_flag", status=404)
    archived = api.call("GET", f"{base}?archived=true", status=200)["results"]
    assert [p["name"] for p in archived if p["name"] == "scratch_flag"] == ["scratch_flag"]
    contact_id = api.create_contact()["id"]
    api.call("PATCH", f"{CONTACTS}/{contact_id}", {"properties": {"scratch_flag": "true"}},
             status=400)  # an archived property no longer takes values
    hubspot_defined = api.call("DELETE", f"{base}/email", status=400)
    assert hubspot_defined["category"] == "VALIDATION_ERROR"
    api.call("DELETE", f"{base}/groups/scratch", status=204)
    api.call("GET", f"{base}/groups/scratch", status=404)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "no_options", "label": "N", "type": "enumeration", "fieldType": "select",
      "groupName": "contactinformation"}, "Options are required"),
    ({"name": "bad_option", "label": "B", "type": "enumeration", "fieldType": "select",
      "groupName": "contactinformation", "options": [{"label": "A", "value": "a"}]}, "hidden"),
    ({"name": "no_group", "label": "G", "type": "string", "fieldType": "text",
      "groupName": "nowhere"}, "nowhere"),
    ({"name": "Bad Name", "label": "B", "type": "string", "fieldType": "text",
      "groupName": "contactinformation"}, "Bad Name"),
    ({"label": "No name", "type": "string", "fieldType": "text",
      "groupName": "contactinformation"}, "name"),
])
def test_property_create_validation(api, body, field):
    error = api.call("POST", "/crm/v3/properties/contacts", body, status=400)
    assert field in error["message"]


# -- search index lag ---------------------------------------------------------------------------

def test_search_index_lag_hides_fresh_writes_from_search_only(make_server):
    api = Api(make_server("--search-lag-ms", "3600000"))
    created = api.create_contact(email="lagging@writes.example")
    by_email = {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ",
                                               "value": "lagging@writes.example"}]}]}
    assert api.call("POST", f"{CONTACTS}/search", by_email, status=200)["total"] == 0
    assert api.call("GET", f"{CONTACTS}/{created['id']}", status=200)["id"] == created["id"]


def test_store_is_unchanged_by_a_rejected_request(api):
    def snapshot() -> tuple[int, int]:
        con = connect(api.server.store, readonly=True)
        try:
            return con.execute("select count(*), max(updated_ms) from objects").fetchone()
        finally:
            con.close()

    before = snapshot()
    api.call("POST", f"{CONTACTS}/batch/create", {"inputs": [
        {"properties": {"email": "ok@writes.example"}},
        {"properties": {"lifecyclestage": "not-a-stage"}}]}, status=400)
    assert snapshot() == before
    assert api.writes() == []
