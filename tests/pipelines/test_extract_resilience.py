"""Whatever the network and HubSpot's limits do, the warehouse ends up equal to a clean load.

Each test runs against its own server on a copy of the small portal and compares the final
warehouse with `clean_contents` (a fault-free full load of the same portal), table by table,
row by row, duplicates included.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable

from sandbox.server.process import RunningServer
from tests.pipelines.conftest import (
    Contents,
    Warehouse,
    assert_same_contents,
    cli_env,
    configure,
    extract,
    extract_cli,
    query,
    requests_seen,
    spawn_cli,
    warehouse_contents,
)

MakeServer = Callable[..., RunningServer]
# 10% of all requests fail: rate-limited, server errors, connections dropped mid-body.
FAULTS = "429=0.04,500=0.02,502=0.01,503=0.01,drop=0.02"


def test_ten_percent_faults_change_nothing(make_server: MakeServer, warehouse: Warehouse,
                                           clean_contents: Contents) -> None:
    server = make_server("--faults", FAULTS, "--fault-seed", "3")
    report = extract(server, warehouse)
    assert report.total_retries > 0
    statuses = {r["status"] for r in requests_seen(server)}
    assert {429, 500, 200} <= statuses
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)


def test_a_run_killed_at_a_random_point_then_rerun_equals_a_clean_run(
        server: RunningServer, warehouse: Warehouse, clean_contents: Contents) -> None:
    env = cli_env(server.base_url, server.token, warehouse)
    delay = random.uniform(4.0, 14.0)  # start-up takes a few seconds; a run about twenty
    victim = spawn_cli(env)
    time.sleep(delay)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    rerun = extract_cli(env, "--quiet")
    assert rerun.returncode == 0, f"killed after {delay:.1f} s; rerun: {rerun.stderr}"
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)


def test_daily_limit_stops_cleanly_and_the_next_run_resumes(
        make_server: MakeServer, warehouse: Warehouse, clean_contents: Contents) -> None:
    server = make_server("--rate-limit", "pro")
    configure(server, perDay=30)
    env = cli_env(server.base_url, server.token, warehouse)

    stopped = extract_cli(env, "--quiet")
    assert stopped.returncode == 3, stopped.stderr
    assert "daily API limit" in stopped.stderr
    assert "next run resumes" in stopped.stderr
    assert query(warehouse.duckdb, "select count(*) > 0 from hubspot.contacts") == [(True,)]

    configure(server, perDay=1_000_000)
    resumed = extract_cli(env, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)


def test_our_client_never_trips_the_pro_rate_limits(make_server: MakeServer,
                                                    warehouse: Warehouse) -> None:
    """Small pages make a full load need well over one 10 s window of requests, and an
    incremental day more search requests than one second allows."""
    server = make_server("--rate-limit", "pro")
    small_pages = {"tier": "pro", "list_page_size": 20, "events_page_size": 300,
                   "search_page_size": 40}
    full = extract(server, warehouse, **small_pages)
    assert full.total_calls > 200  # more than one window allows
    assert server.admin("POST", "advance", json={"days": 1}).status_code == 200
    time.sleep(1.1)
    incremental = extract(server, warehouse, **small_pages)
    searches = [r for r in requests_seen(server) if r["route"].endswith("/search")]
    assert sum(r["count"] for r in searches) > 10
    assert [r for r in requests_seen(server) if r["status"] == 429] == []
    assert full.total_retries == incremental.total_retries == 0


def test_expired_event_offsets_are_survived(make_server: MakeServer, warehouse: Warehouse,
                                            clean_contents: Contents) -> None:
    """HubSpot's event offsets are short-lived, and ours may wait while a package loads: with
    every offset expired by the time it is used, the run still lands every event once."""
    server = make_server()
    configure(server, limits={"offsetTtlMs": 1})
    extract(server, warehouse)
    expired = [r for r in requests_seen(server)
               if r["route"] == "/email/public/v1/events" and r["status"] == 400]
    assert expired  # the offsets really expired
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)


def test_slow_campaign_details_do_not_outlast_the_lists_offsets(
        make_server: MakeServer, warehouse: Warehouse, clean_contents: Contents) -> None:
    """The campaign list is read before any detail: its short-lived offsets are never held
    while slow detail reads go on."""
    server = make_server()
    configure(server, limits={"offsetTtlMs": 1500}, faults=[
        {"route": "/email/public/v1/campaigns/{campaign_id}", "kinds": {"slow": 1.0},
         "slowSeconds": 0.7}])
    extract(server, warehouse, campaigns_page_size=3)
    listed = [r for r in requests_seen(server) if r["route"] == "/email/public/v1/campaigns/by-id"]
    assert sum(r["count"] for r in listed if r["status"] == 200) > 2  # several list pages
    assert_same_contents(warehouse_contents(warehouse.duckdb), clean_contents)
