"""Full and incremental loads of the small sandbox portal: counts, API calls, exact contents."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.extract import ExtractReport
from sandbox.server.process import RunningServer
from tests.pipelines.conftest import (
    Contents,
    Warehouse,
    assert_same_contents,
    configure,
    extract,
    query,
    requests_seen,
    warehouse_contents,
)


@pytest.fixture(scope="module")
def full_load(clean_load: tuple[Warehouse, ExtractReport], shared_server: RunningServer
              ) -> tuple[Warehouse, ExtractReport, dict[str, Any]]:
    target, report = clean_load
    return target, report, shared_server.admin("GET", "stats").json()


def pages(records: int, page_size: int) -> int:
    """Requests to list `records` (an empty list still costs one request)."""
    return max(1, math.ceil(records / page_size))


def minimum_calls(stats: dict[str, Any]) -> dict[str, int]:
    crm = {t: pages(o["live"], 100) + pages(o["archived"], 100)
           for t, o in stats["objects"].items()}
    return {**crm,
            "email_events": pages(stats["email_events"]["total"], 1000),
            "email_campaigns": pages(stats["campaigns"], 500) + stats["campaigns"],
            "properties": 3, "deal_pipelines": 1}


def test_full_load_uses_the_minimum_number_of_calls(full_load: Any) -> None:
    _, report, stats = full_load
    assert report.calls == minimum_calls(stats)
    assert report.total_retries == 0
    assert report.stopped_by is None


def test_full_load_lands_every_record_of_the_portal(full_load: Any) -> None:
    target, report, stats = full_load
    db = target.duckdb
    for object_type, counts in stats["objects"].items():
        by_flag = dict(query(db, f"select archived, count(*) from hubspot.{object_type} "
                                 "group by archived"))
        assert by_flag.get(False, 0) == counts["live"], object_type
        assert by_flag.get(True, 0) == counts["archived"], object_type
    contacts = sum(stats["objects"]["contacts"].values())
    assert query(db, "select count(*) from hubspot.contact_associations") == [(contacts,)]
    links = stats["associations"]
    assert query(db, "select count(*) from hubspot.contact_associations__deals") == [
        (links["contacts_to_deals"],)]
    assert query(db, "select count(*), count(*) filter (where is_primary) "
                     "from hubspot.contact_associations__companies") == [
        (links["contacts_to_companies"], stats["association_types"]["contacts_to_companies"]["1"])]
    events = dict(query(db, "select type, count(*) from hubspot.email_events group by type"))
    assert events == stats["email_events"]["by_type"]
    assert query(db, "select count(*) from hubspot.email_campaigns") == [(stats["campaigns"],)]
    definitions = dict(query(db, "select object_type, count(*) from hubspot.properties "
                                 "group by object_type"))
    assert definitions == stats["properties"]
    assert query(db, "select count(*) > 0 from hubspot.deal_pipelines__stages") == [(True,)]
    assert report.rows["contacts"] == contacts


def test_raw_values_are_exactly_what_hubspot_sent(full_load: Any,
                                                  shared_server: RunningServer) -> None:
    """Property columns are text holding HubSpot's strings, untouched (typing is dbt's job)."""
    target, _, _ = full_load
    types = dict(query(target.duckdb, "select column_name, data_type from "
                       "information_schema.columns where table_name = 'contacts' "
                       "and table_schema = 'hubspot'"))
    assert {t for c, t in types.items() if c.startswith("property_")} == {"VARCHAR"}
    assert types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["archived"] == "BOOLEAN"
    con = sqlite3.connect(f"file:{shared_server.store}?mode=ro", uri=True)
    oid, props = con.execute("select id, props from objects where object_type = 'contacts' "
                             "and archived = 0 order by id limit 1").fetchone()
    con.close()
    createdate = query(target.duckdb, "select property_createdate from hubspot.contacts "
                                      f"where id = '{oid}'")[0][0]
    assert createdate.endswith("Z")
    assert f'"createdate":"{createdate}"' in props.replace(" ", "")


def changed_in(store: Path, start_ms: int, end_ms: int) -> dict[str, int]:
    """Records and events the portal changed in [start, end): what an incremental run owes."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        counts = dict(con.execute(
            "select object_type, count(*) from objects where updated_ms >= ? and updated_ms < ? "
            "group by object_type", (start_ms, end_ms)).fetchall())
        (events,) = con.execute("select count(*) from email_events where created >= ? "
                                "and created < ?", (start_ms, end_ms)).fetchone()
    finally:
        con.close()
    return {**counts, "email_events": events}


def test_incremental_day_loads_exactly_the_changes_and_equals_a_full_reload(
        server: RunningServer, warehouse: Warehouse) -> None:
    first = extract(server, warehouse)
    advanced = server.admin("POST", "advance", json={"days": 1})
    assert advanced.status_code == 200, advanced.text
    time.sleep(1.1)  # windows end on whole seconds (HTTP Date): let the day's last one pass

    second = extract(server, warehouse)
    assert first.window_end_ms is not None
    assert second.window_end_ms is not None
    owed = changed_in(server.store, first.window_end_ms, second.window_end_ms)
    for table in ("contacts", "companies", "deals", "email_events"):
        assert second.rows.get(table, 0) == owed.get(table, 0), table
    assert second.rows["email_campaigns"] == advanced.json()["campaigns_created"]
    assert second.total_calls < first.total_calls

    incremental = warehouse_contents(warehouse.duckdb)
    extract(server, warehouse, full_refresh=True)  # a fresh full load of the advanced portal
    assert_same_contents(incremental, warehouse_contents(warehouse.duckdb))


def test_inline_association_lists_with_their_own_paging_are_completed(
        server: RunningServer, warehouse: Warehouse, clean_contents: Contents) -> None:
    """With one inline association per type, most contacts' lists page: v4 completes them."""
    configure(server, limits={"inlineAssociationsMax": 1})
    report = extract(server, warehouse, resources=("contacts",))
    assert report.calls["contact_associations"] > 100  # one v4 list per paged contact list
    loaded = warehouse_contents(warehouse.duckdb)
    for table in ("contact_associations", "contact_associations__deals",
                  "contact_associations__companies"):
        assert loaded[table] == clean_contents[table], table


def test_date_versioned_paths_give_the_same_rows(shared_server: RunningServer,
                                                 warehouse: Warehouse,
                                                 clean_contents: Contents) -> None:
    report = extract(shared_server, warehouse, api_version="2026-03",
                     resources=("deals", "deal_pipelines"))
    assert report.total_calls > 0
    routes = {r["route"] for r in requests_seen(shared_server)}
    assert {"/crm/objects/{version:dbv}/{object_type}",
            "/crm/pipelines/{version:dbv}/{object_type}"} <= routes
    loaded = warehouse_contents(warehouse.duckdb)
    for table in ("deals", "deal_pipelines", "deal_pipelines__stages"):
        assert loaded[table] == clean_contents[table], table


def legacy_events_load(server: RunningServer, warehouse: Warehouse,
                       monkeypatch: pytest.MonkeyPatch) -> ExtractReport:
    """The layout of versions before the events lane: the events loaded by the main pipeline
    (`hubspot`), their window kept in its state and their table in its schema."""
    from pipelines import events_lane
    from pipelines.hubspot import source

    with monkeypatch.context() as legacy:
        legacy.setattr(events_lane, "EVENTS_PIPELINE_NAME", "hubspot")
        legacy.setattr(source, "EVENTS_SOURCE", "hubspot")
        report = extract(server, warehouse, resources=("email_events",))
    assert report.calls["email_events"] > 1
    return report


def test_a_warehouse_from_before_the_events_lane_keeps_its_events_state(
        shared_server: RunningServer, warehouse: Warehouse, clean_contents: Contents,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The events pipeline starts from the window the main pipeline kept, even when the first
    run after the upgrade leaves the events out."""
    legacy_events_load(shared_server, warehouse, monkeypatch)
    extract(shared_server, warehouse, resources=("contacts",))

    upgraded = extract(shared_server, warehouse)
    assert upgraded.calls["email_events"] == 1  # one empty page: nothing new since the first run
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)
    # A full refresh of the main pipeline no longer drops the table the other one loads.
    extract(shared_server, warehouse, full_refresh=True)
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)


def test_a_full_refresh_right_after_the_upgrade_reloads_the_events(
        shared_server: RunningServer, warehouse: Warehouse, clean_contents: Contents,
        clean_load: tuple[Warehouse, ExtractReport], monkeypatch: pytest.MonkeyPatch) -> None:
    legacy_events_load(shared_server, warehouse, monkeypatch)
    stale = "insert into hubspot.email_events (id, created, _dlt_load_id, _dlt_id) " \
        "values ('stale', 1, 'x', 'stale')"
    with duckdb.connect(str(warehouse.duckdb)) as con:  # a row the refresh must not keep
        con.execute(stale)

    refreshed = extract(shared_server, warehouse, full_refresh=True)
    assert refreshed.calls["email_events"] == clean_load[1].calls["email_events"]  # every page
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)


def test_campaigns_listed_without_a_change_time_are_read_again_every_run(
        server: RunningServer, warehouse: Warehouse) -> None:
    """Whether HubSpot's campaign list carries lastUpdatedTime is not documented: without it,
    every campaign's detail is read again each run (and nothing else changes)."""
    configure(server, campaignsLastUpdated=False)
    first = extract(server, warehouse)
    loaded = warehouse_contents(warehouse.duckdb)
    second = extract(server, warehouse)
    assert second.rows["email_campaigns"] == first.rows["email_campaigns"] > 0
    assert_same_contents(warehouse_contents(warehouse.duckdb), loaded)
    configure(server, campaignsLastUpdated=True)  # with it, an unchanged campaign is skipped
    extract(server, warehouse)
    assert extract(server, warehouse).rows.get("email_campaigns", 0) == 0
