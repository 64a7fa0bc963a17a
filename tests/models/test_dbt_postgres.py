"""The same dbt project on PostgreSQL: a real server started by the suite, raw data loaded by
`hubseg extract --destination postgres`, then `dbt build --target postgres`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2
import pytest

from sandbox.server.process import RunningServer
from tests.models.conftest import Warehouse, portal_date
from tests.models.event_store import assert_metrics_match, campaign_metrics
from tests.postgres import PostgresServer

DATABASE = "hubseg_models"  # our own database: other tests load the server's default one


def create_database(server: PostgresServer) -> None:
    con = psycopg2.connect(server.url)
    con.autocommit = True
    try:
        with con.cursor() as cur:
            cur.execute(f"drop database if exists {DATABASE}")
            cur.execute(f"create database {DATABASE}")
    finally:
        con.close()


@pytest.fixture(scope="module")
def postgres_warehouse(shared_server: RunningServer, postgres_server: PostgresServer,
                       tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    create_database(postgres_server)
    pg = postgres_server
    warehouse = Warehouse(tmp_path_factory.mktemp("postgres"), env={
        # dlt insists on a password; the test cluster trusts local connections.
        "DESTINATION__POSTGRES__CREDENTIALS":
            f"postgresql://{pg.user}:unused@{pg.host}:{pg.port}/{DATABASE}",
        "HUBSEG_PG_HOST": pg.host, "HUBSEG_PG_PORT": str(pg.port),
        "HUBSEG_PG_USER": pg.user, "HUBSEG_PG_DBNAME": DATABASE,
    })
    warehouse.extract(shared_server, "--destination", "postgres")
    warehouse.dbt("build", as_of=portal_date(shared_server.store), target="postgres")
    return warehouse


def test_build_passes_on_postgres(postgres_warehouse: Warehouse) -> None:
    results = postgres_warehouse.run_results("postgres")
    assert results
    failed = [(r["unique_id"], r["status"]) for r in results
              if r["status"] not in ("success", "pass", "no-op")]
    assert not failed


def test_postgres_metrics_equal_the_event_store(postgres_warehouse: Warehouse,
                                                shared_server: RunningServer,
                                                postgres_server: PostgresServer) -> None:
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{DATABASE}"
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute("select * from marts.campaign_performance")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    assert_metrics_match(rows, campaign_metrics(Path(shared_server.store)))


def test_incremental_build_passes_on_postgres(postgres_warehouse: Warehouse,
                                              shared_server: RunningServer,
                                              postgres_server: PostgresServer) -> None:
    """A second build a day later takes the incremental paths on PostgreSQL too: the
    replace_by_key strategy, the stamps and the post-hook moving rows to the new as-of date."""
    next_day = (dt.date.fromisoformat(portal_date(shared_server.store))
                + dt.timedelta(days=1)).isoformat()
    postgres_warehouse.dbt("build", "--exclude-resource-type", "unit_test", as_of=next_day,
                           target="postgres")
    results = postgres_warehouse.run_results("postgres")
    failed = [(r["unique_id"], r["status"]) for r in results
              if r["status"] not in ("success", "pass", "no-op")]
    assert not failed
    url = postgres_server.url.rsplit("/", 1)[0] + f"/{DATABASE}"
    with psycopg2.connect(url) as con, con.cursor() as cur:
        cur.execute("select distinct as_of_date from marts.contact_segments "
                    "union select distinct as_of_date from marts.sync_hubspot__contact_segments")
        assert [row[0].isoformat() for row in cur.fetchall()] == [next_day]
        cur.execute("select count(*) from marts.sync_hubspot__contact_segments")
        synced = cur.fetchone()[0]
        cur.execute("select count(*) from marts.dim_contacts")
        assert synced == cur.fetchone()[0] > 0
        # Both builds' scoped uniqueness tests passed and recorded it (the hook's writes are
        # committed on PostgreSQL): the next build checks only rows written after this one.
        cur.execute("select count(*), min(verified_at) from public.test_watermarks")
        scoped, verified_at = cur.fetchone()
        cur.execute("select max(dbt_updated_at) from marts.fct_email_events")
        assert scoped == 6
        assert verified_at >= cur.fetchone()[0]
