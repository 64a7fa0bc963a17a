"""The dbt project end to end on a real sandbox portal, over two days.

Day 1: `hubseg extract` of the small portal, then `dbt build` as of the portal's date.
Day 2: the portal advances one day, addresses change owners (tests/models/contact_changes.py),
then an incremental extract and an incremental `dbt build`.
Each day the campaign metrics are also counted straight from the portal's SQLite event store
(tests/models/event_store.py) and the memberships of contact_segments are kept, so the tests
below compare the warehouse with independent answers.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from hubseg.marts_file import marts_path
from sandbox.server.process import start_server
from tests.models.conftest import REPO, Warehouse, portal_date
from tests.models.contact_changes import (
    CompanyMerge,
    ContactChanges,
    DealMerge,
    change_contacts,
    merge_companies,
    merge_won_deals,
)
from tests.models.event_store import assert_metrics_match, campaign_metrics, email_owners

Membership = tuple[str, str]  # (contact_id, segment_key)


@dataclass(frozen=True)
class Day:
    as_of: str
    expected_metrics: dict[str, dict[str, Any]]
    campaign_performance: list[dict[str, Any]]
    memberships: frozenset[Membership]
    run_results: list[dict[str, Any]]


@dataclass(frozen=True)
class Flow:
    warehouse: Warehouse
    store: Path
    days: tuple[Day, Day]
    changes: ContactChanges
    deal_merge: DealMerge
    company_merge: CompanyMerge


@pytest.fixture(scope="module")
def flow(small_portal: Path, tmp_path_factory: pytest.TempPathFactory) -> Flow:
    root = tmp_path_factory.mktemp("models")
    store = root / "portal.sqlite"
    shutil.copyfile(small_portal, store)
    warehouse = Warehouse(root / "warehouse")
    days = []
    with start_server(store) as server:
        for day in (1, 2):
            if day == 2:
                response = server.admin("POST", "advance", json={"days": 1})
                assert response.status_code == 200, response.text
                changes = change_contacts(server, store)
                touched = {changes.copier, changes.original, changes.archived_owner,
                           changes.heir, changes.merged_away, changes.survivor}
                deal_merge = merge_won_deals(server, store, avoid=touched)
                company_merge = merge_companies(server, store,
                                                avoid={*touched, deal_merge.contact})
            warehouse.extract(server)
            as_of = portal_date(store)
            warehouse.dbt("build", as_of=as_of)
            days.append(Day(
                as_of=as_of,
                expected_metrics=campaign_metrics(store),
                campaign_performance=warehouse.table("marts.campaign_performance"),
                memberships=frozenset(warehouse.query(
                    "select contact_id, segment_key from marts.contact_segments")),
                run_results=warehouse.run_results(),
            ))
    return Flow(warehouse, store, (days[0], days[1]), changes, deal_merge, company_merge)


@pytest.mark.parametrize("day", [0, 1], ids=["full", "incremental"])
def test_build_runs_every_model_and_test(flow: Flow, day: int) -> None:
    results = flow.days[day].run_results
    by_kind: dict[str, int] = {}
    for result in results:
        kind = result["unique_id"].split(".")[0]
        assert result["status"] in (("no-op",) if kind == "exposure" else ("success", "pass")), (
            result["unique_id"], result["status"], result["message"])
        by_kind[kind] = by_kind.get(kind, 0) + 1
    assert by_kind["unit_test"] >= 10
    assert by_kind["test"] >= 100
    built = {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model")}
    assert {"dim_contacts", "fct_email_events", "campaign_performance", "segments",
            "segment_membership_history", "sync_hubspot__contact_segments"} <= built


@pytest.mark.parametrize("day", [0, 1], ids=["full", "incremental"])
def test_campaign_metrics_equal_the_event_store(flow: Flow, day: int) -> None:
    """Every metric of every campaign equals the count over the portal's own events."""
    assert_metrics_match(flow.days[day].campaign_performance, flow.days[day].expected_metrics)


def test_incremental_models_equal_a_full_refresh(flow: Flow, tmp_path: Path) -> None:
    """After day 2's incremental build, rebuilding everything from scratch changes nothing.

    segment_membership_history is kept by `--full-refresh` by design (its past cannot be
    recomputed), so its equality here shows that rerunning the same as-of date is idempotent.
    """
    rebuilt = Warehouse(tmp_path / "rebuilt")
    flow.warehouse.copy_to(rebuilt)
    rebuilt.dbt("run", "--full-refresh", as_of=flow.days[1].as_of)
    for schema in ("marts", "intermediate"):
        incremental = flow.warehouse.schema_contents(schema)
        full = rebuilt.schema_contents(schema)
        assert sorted(full) == sorted(incremental)
        for table, rows in full.items():
            assert incremental[table] == rows, f"{schema}.{table} differs after a full refresh"
    events = flow.warehouse.query("select count(*), count(distinct event_id) "
                                  "from marts.fct_email_events")[0]
    assert events[0] == events[1] > 0


def test_messages_belong_to_the_owner_of_their_address_after_it_changed(flow: Flow) -> None:
    """After day 2's copied address, archived owner and merge, every message of every day
    belongs to the contact owning its address in the portal (the oldest live one), as the
    incremental build re-attributed it."""
    con = sqlite3.connect(f"file:{flow.store}?mode=ro", uri=True)
    try:
        owners = {email: str(contact_id) for email, contact_id in email_owners(con).items()}
    finally:
        con.close()
    sends = flow.warehouse.query("select recipient_email, contact_id from marts.fct_email_sends")
    wrong = [(email, contact) for email, contact in sends if contact != owners.get(email)]
    assert not wrong, f"{len(wrong)} messages with the wrong contact, e.g. {wrong[:3]}"
    owner_of = dict(sends)
    changes = flow.changes
    assert owner_of[changes.copied_email] == changes.original != changes.copier
    assert owner_of[changes.shared_email] == changes.heir
    assert owner_of[changes.merged_email] is None
    live = {row[0] for row in flow.warehouse.query("select contact_id from marts.dim_contacts")}
    assert {changes.original, changes.copier, changes.heir, changes.survivor} <= live
    assert not {changes.archived_owner, changes.merged_away} & live


def test_a_merged_deal_counts_once_and_its_contact_moves_to_the_survivor(flow: Flow) -> None:
    """Day 2 merged a contact's only won deal into another won deal. The warehouse still holds
    the merged-away deal as loaded on day 1 (HubSpot lists it no more): the models drop it,
    and the contact's deal is the survivor (the extract re-reads the associations of the
    survivor's contacts; a stale one is re-pointed by the model itself, unit test
    deal_associations_follow_merged_contacts_and_deals)."""
    merge = flow.deal_merge
    deals = {row[0] for row in flow.warehouse.query("select deal_id from marts.fct_deals")}
    assert merge.survivor in deals
    assert merge.merged_away not in deals
    stale = flow.warehouse.query("select count(*) from staging.stg_hubspot__deals "
                                 f"where deal_id = '{merge.merged_away}'")
    assert stale == [(1,)]  # the scenario holds: the old row is still loaded
    [(won, revenue)] = flow.warehouse.query(
        "select won_deal_count, revenue from marts.dim_contacts "
        f"where contact_id = '{merge.contact}'")
    assert (won, float(revenue)) == (1, merge.survivor_amount)


def test_a_contact_of_a_merged_company_gets_the_survivor(flow: Flow) -> None:
    """Day 2 merged a contact's primary company into another company, whose day-1 row is
    still loaded. The extract re-reads the associations of the survivor's contacts (the
    survivor changed); a stale association is re-pointed by the model itself (unit test
    incremental_run_recomputes_contacts_whose_inputs_changed). Either way the contact's
    company is the survivor."""
    merge = flow.company_merge
    stale = flow.warehouse.query("select count(*) from staging.stg_hubspot__companies "
                                 f"where company_id = '{merge.merged_away}'")
    assert stale == [(1,)]
    [(company_id, name)] = flow.warehouse.query(
        "select primary_company_id, company_name from marts.dim_contacts "
        f"where contact_id = '{merge.contact}'")
    assert (company_id, name) == (merge.survivor, merge.survivor_name)


def test_uniqueness_is_checked_on_the_rows_written_since_it_last_passed(flow: Flow,
                                                                        tmp_path: Path) -> None:
    """The hashed uniqueness test on fct_email_events (macros/generic_tests/unique_by_hash.sql)
    looks for the ids of the rows written since it last passed (macros/test_watermarks.sql):
    a duplicate written later fails it, and keeps failing it, since a failing test records no
    pass. A duplicate planted among rows already verified is the documented blind spot, which
    var verify_all_rows closes. A pass under --empty records nothing, and a mark no earlier
    than the test's own start (another host's clock, an overlapping run) is not trusted."""
    copy = Warehouse(tmp_path / "duplicated")
    flow.warehouse.copy_to(copy)
    key = "hubseg_marts.marts.fct_email_events.event_id.unique_by_hash"
    [(verified_at, newest_row)] = copy.query(
        "select max(verified_at), (select max(dbt_updated_at) from marts.fct_email_events) "
        f"from main.test_watermarks where test_key = '{key}'")
    assert verified_at >= newest_row  # day 2's build recorded its pass

    def duplicate(offset: int, stamp: dt.datetime | None) -> None:
        con = duckdb.connect(str(marts_path(copy.duckdb)))
        try:
            con.execute("insert into marts.fct_email_events select * replace "
                        "(coalesce(?, dbt_updated_at) as dbt_updated_at) "
                        "from marts.fct_email_events order by event_id limit 1 offset ?",
                        [stamp, offset])
        finally:
            con.close()

    def failures(**dbt_vars: Any) -> int:
        result = copy.dbt("test", "--select", "fct_email_events,test_name:unique_by_hash",
                          as_of=flow.days[1].as_of, check=False, **dbt_vars)
        [outcome] = [r for r in copy.run_results() if r["unique_id"].startswith("test.")]
        assert result.returncode == (outcome["failures"] > 0), result.stdout[-3000:]
        return int(outcome["failures"])

    duplicate(0, None)  # keeps the stamp of a row verified on day 2
    assert failures() == 0
    assert failures(verify_all_rows=True) == 1
    duplicate(1, dt.datetime.now(dt.UTC).replace(tzinfo=None))  # written after the pass
    assert failures() == 1
    assert failures() == 1  # the failing run recorded no pass
    # `--empty` tests pass on no rows: their pass must not cover the duplicate.
    copy.dbt("build", "--empty", "--select", "fct_email_events", as_of=flow.days[1].as_of)
    assert failures() == 1
    # A mark from the future is ignored: the whole table is checked, so an old-stamped
    # duplicate of another id shows too (offsets 0-2 are now copies of the first id).
    duplicate(10, None)
    mark_later = duckdb.connect(str(copy.duckdb))
    try:
        mark_later.execute("update main.test_watermarks set verified_at = verified_at "
                           "+ interval 1 day where test_key = ?", [key])
    finally:
        mark_later.close()
    assert failures() == 2


def test_a_full_refresh_upstream_reaches_the_incremental_email_models(flow: Flow,
                                                                       tmp_path: Path) -> None:
    """The sends and engagement models pick up what their upstream rewrote (its
    dbt_updated_at), not only rows from newer loads: after a seed or var change, the pivoted
    model's own --full-refresh (as its docs say) reaches them, and stale rows are rebuilt."""
    copy = Warehouse(tmp_path / "refreshed")
    flow.warehouse.copy_to(copy)
    columns = "send_id, is_delivered, is_opened, is_clicked, is_hard_bounced"
    expected = copy.query(f"select {columns} from marts.fct_email_sends order by 1")
    engaged = copy.query("select count(*) from intermediate.int_email_engagement_events")
    stale = duckdb.connect(str(marts_path(copy.duckdb)))
    try:  # rows as an older seed would have left them
        stale.execute("update marts.fct_email_sends set is_delivered = not is_delivered, "
                      "is_hard_bounced = not is_hard_bounced where send_id in (select send_id "
                      "from marts.fct_email_sends order by send_id limit 25)")
    finally:
        stale.close()
    assert copy.query(f"select {columns} from marts.fct_email_sends order by 1") != expected
    as_of = flow.days[1].as_of
    copy.dbt("run", "--full-refresh", "--select", "int_email_events_pivoted_to_sends",
             as_of=as_of)
    copy.dbt("run", "--select", "fct_email_sends", "int_email_engagement_events", as_of=as_of)
    assert copy.query(f"select {columns} from marts.fct_email_sends order by 1") == expected
    assert copy.query("select count(*) from intermediate.int_email_engagement_events") == (
        engaged)


def test_a_backfill_as_of_a_past_date_builds_and_sees_no_later_opt_out(flow: Flow,
                                                                        tmp_path: Path) -> None:
    """Rules compute as of a date var so results are reproducible: a build as of a date
    months back passes its tests (sends of contacts created since are no broken reference),
    and the opt-out and hard-bounce properties, which hold today's values, don't make a
    contact modified since that date unreachable back then."""
    copy = Warehouse(tmp_path / "backfill")
    flow.warehouse.copy_to(copy)
    past = (dt.date.fromisoformat(flow.days[0].as_of) - dt.timedelta(days=150)).isoformat()
    copy.dbt("build", "--full-refresh", "--exclude-resource-type", "unit_test", as_of=past,
             rebuild_segment_history=True)
    later_opt_outs = """
        select count(*)
        from intermediate.int_contacts_resolved as contacts
        inner join marts.dim_contacts as dim using (contact_id)
        left join intermediate.int_email_addresses_statused as statuses
            on contacts.email = statuses.recipient_email
        where
            contacts.updated_at >= date '{past}' + 1
            and (contacts.is_unsubscribed_from_all_email
                 or contacts.hard_bounce_reason is not null)
            and not coalesce(statuses.is_unsubscribed or statuses.is_hard_bounced, false)
            {and_unreachable}"""
    [(cases,)] = copy.query(later_opt_outs.format(past=past, and_unreachable=""))
    assert cases > 0  # the portal has such contacts: the check below is not vacuous
    [(leaked,)] = copy.query(later_opt_outs.format(
        past=past,
        and_unreachable="and dim.engagement_level = 'unreachable' and dim.email is not null"))
    assert leaked == 0
    # Contacts created since are in no RFM bucket (they would shift everyone else's).
    [(scored, outside)] = copy.query(
        "select count(*), count(*) filter (where contact_id not in "
        "(select contact_id from marts.dim_contacts)) from intermediate.int_contacts_rfm_scored")
    assert scored > 0
    assert outside == 0


def test_segment_history_refuses_a_date_before_its_last_recorded_exit(flow: Flow,
                                                                        tmp_path: Path) -> None:
    """A day that recorded only exits still dates the history: rerunning an earlier day
    would reopen or move those exits for good, so it is refused."""
    day1, day2 = flow.days
    copy = Warehouse(tmp_path / "exits-only")
    flow.warehouse.copy_to(copy)
    marts = duckdb.connect(str(marts_path(copy.duckdb)))
    try:  # day 2 as if it had recorded exits only
        marts.execute("delete from marts.segment_membership_history where valid_from = ?",
                      [day2.as_of])
        [(exits,)] = marts.execute("select count(*) from marts.segment_membership_history "
                                   "where valid_to = ?", [day2.as_of]).fetchall()
    finally:
        marts.close()
    assert exits > 0
    result = copy.dbt("run", "--select", "segment_membership_history", as_of=day1.as_of,
                      check=False)
    assert result.returncode != 0
    assert f"recorded up to {day2.as_of}" in result.stdout


def test_segment_history_records_who_entered_and_left(flow: Flow) -> None:
    day1, day2 = flow.days
    expected = (
        {(c, s, day1.as_of, None) for c, s in day1.memberships & day2.memberships}
        | {(c, s, day1.as_of, day2.as_of) for c, s in day1.memberships - day2.memberships}
        | {(c, s, day2.as_of, None) for c, s in day2.memberships - day1.memberships}
    )
    rows = flow.warehouse.query(
        "select contact_id, segment_key, cast(valid_from as varchar), "
        "cast(valid_to as varchar) from marts.segment_membership_history")
    assert len(rows) == len(set(rows))
    assert set(rows) == expected
    assert day1.memberships - day2.memberships, "nobody left a segment: nothing was tested"
    assert day2.memberships - day1.memberships, "nobody entered a segment: nothing was tested"


def test_every_declared_segment_is_reported_even_when_empty(flow: Flow) -> None:
    models = yaml.safe_load(
        (REPO / "models/marts/segments/_segments__models.yml").read_text())["models"]
    declared = next(m for m in models if m["name"] == "segments")["config"]["meta"]["segments"]
    rows = {r["segment_key"]: r for r in flow.warehouse.table("marts.segments")}
    assert sorted(rows) == sorted(s["key"] for s in declared)
    assert any(r["member_count"] == 0 for r in rows.values())
    for segment in declared:
        assert rows[segment["key"]]["segment_label"] == segment["label"]


def test_contacts_and_sends_never_fan_out(flow: Flow) -> None:
    """One row per live contact and per SENT event, whatever the duplicate emails."""
    store = portal_counts(flow.store)
    contacts = flow.warehouse.query(
        "select count(*), count(distinct contact_id), "
        "count(distinct email) filter (where is_email_owner), "
        "count(*) filter (where is_email_owner) from marts.dim_contacts")[0]
    assert contacts[0] == contacts[1] == store["live_contacts"]
    assert contacts[2] == contacts[3], "an email address has two owners"
    assert store["duplicate_emails"] > 0, "the portal has no duplicate emails to test"
    sends = flow.warehouse.query("select count(*) from marts.fct_email_sends")[0][0]
    assert sends == store["sent_events"]


def portal_counts(store: Path) -> dict[str, int]:
    """Live contacts (not archived, not merged away), duplicate addresses, SENT events."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        live, duplicates = con.execute(
            "select count(*), count(email) - count(distinct email) from ("
            "  select lower(trim(json_extract(props, '$.email'))) as email from objects"
            "  where object_type = 'contacts' and archived = 0"
            "  and id not in (select old_id from merged_ids where object_type = 'contacts'))"
        ).fetchone()
        sent = con.execute("select count(distinct id) from email_events "
                           "where type = 'SENT'").fetchone()[0]
    finally:
        con.close()
    return {"live_contacts": live, "duplicate_emails": duplicates, "sent_events": sent}


def test_docs_generate(flow: Flow) -> None:
    flow.warehouse.dbt("docs", "generate", as_of=flow.days[1].as_of)
    target = flow.warehouse.root / "target-duckdb"
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.hubseg.campaign_segment_performance" in catalog["nodes"]
    manifest = json.loads((target / "manifest.json").read_text())
    exposures = {e["type"] for e in manifest["exposures"].values()}
    assert exposures == {"application", "dashboard"}
    assert (target / "index.html").exists()
