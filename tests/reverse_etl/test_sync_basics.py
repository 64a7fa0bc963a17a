"""The sync against a real sandbox server, driven from a hand-made sync model.

Checks the "done when" of issue 5 that do not need faults: HubSpot ends up equal to the model,
a second run writes nothing, a day's changes are written exactly, in ⌈changed ÷ 100⌉ batch
requests, the first run against a portal that already holds values writes only differences,
a dry run writes nothing, and the options follow the segments mart.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

from reverse_etl.state import RunStatus, SyncState
from reverse_etl.sync import run_sync
from reverse_etl.values import OwnedValues
from tests.reverse_etl.helpers import (
    BATCH_UPDATE,
    PRIMARY_PROPERTY,
    SEGMENTS,
    SEGMENTS_PROPERTY,
    api_put,
    assign,
    hubspot_values,
    make_config,
    request_count,
    warehouse_rows,
    write_log,
    write_model,
)


def day_of_changes(desired: dict[str, OwnedValues], share: float, seed: int
                   ) -> dict[str, OwnedValues]:
    """New values for a random `share` of contacts, each different from its current one."""
    rnd = random.Random(seed)
    picked = rnd.sample(sorted(desired), max(1, int(len(desired) * share)))
    out: dict[str, OwnedValues] = {}
    for n, cid in enumerate(picked):
        candidate = assign([cid], seed=seed * 1000 + n, empty_share=0.1)[cid]
        if candidate == desired[cid]:
            candidate = OwnedValues.of("rfm_lost", "rfm_lost")
        if candidate == desired[cid]:
            candidate = OwnedValues.of("region_europe", "region_europe")
        out[cid] = candidate
    return out


def reset_logs(server) -> None:
    server.admin("POST", "reset", json={"requests": True, "writes": True})


def written_contacts(server) -> set[str]:
    return {w["objectId"] for w in write_log(server)}


def test_first_run_then_nothing_then_exactly_the_day_s_changes(server, warehouse: Path,
                                                                contact_ids) -> None:
    desired = assign(contact_ids, seed=1)
    write_model(warehouse, desired)
    config = make_config(server, warehouse)

    first = run_sync(config)
    assert first.run.status == RunStatus.SUCCEEDED
    assert hubspot_values(server, contact_ids) == desired
    holding = [cid for cid, v in desired.items() if not v.empty]
    assert first.run.accepted == len(holding)  # contacts in no segment hold nothing already
    assert request_count(server, BATCH_UPDATE) == math.ceil(len(holding) / 100)
    log = write_log(server)
    assert {w["property"] for w in log} == {SEGMENTS_PROPERTY, PRIMARY_PROPERTY}
    assert {w["objectId"] for w in log} == set(holding)

    reset_logs(server)
    second = run_sync(config)
    assert second.run.status == RunStatus.SUCCEEDED
    assert (second.run.planned, second.run.sent, second.contacts_read) == (0, 0, 0)
    assert request_count(server, BATCH_UPDATE) == 0
    assert write_log(server) == []

    changed = day_of_changes(desired, share=0.15, seed=2)
    desired.update(changed)
    write_model(warehouse, desired)
    reset_logs(server)
    third = run_sync(config)
    assert third.run.status == RunStatus.SUCCEEDED
    assert written_contacts(server) == set(changed)
    assert request_count(server, BATCH_UPDATE) == math.ceil(len(changed) / 100)
    assert hubspot_values(server, contact_ids) == desired
    # the run log and the change log in the warehouse agree
    runs = warehouse_rows(warehouse, "select status, planned, accepted from "
                                     "reverse_etl.sync_runs order by started_at")
    assert runs == [("succeeded", len(holding), len(holding)), ("succeeded", 0, 0),
                    ("succeeded", len(changed), len(changed))]
    logged = warehouse_rows(warehouse, "select contact_id, new_segments, new_primary from "
                                       "reverse_etl.sync_changes where run_id = ?",
                            [third.run.run_id])
    assert {cid: OwnedValues(s, p) for cid, s, p in logged} == changed


def test_first_run_on_a_portal_holding_values_writes_only_differences(
        server, warehouse: Path, tmp_path: Path, contact_ids) -> None:
    desired = assign(contact_ids, seed=3)
    write_model(warehouse, desired)
    assert run_sync(make_config(server, warehouse)).run.status == RunStatus.SUCCEEDED

    # The state is lost (a new warehouse) while the model moved on a little.
    changed = day_of_changes(desired, share=0.05, seed=4)
    desired.update(changed)
    fresh = tmp_path / "fresh.duckdb"
    write_model(fresh, desired)
    reset_logs(server)
    report = run_sync(make_config(server, fresh))
    assert report.run.status == RunStatus.SUCCEEDED
    assert report.run.first_run is True
    assert report.contacts_read == len(contact_ids)  # seeded from HubSpot, 100 per read
    assert written_contacts(server) == set(changed)
    assert request_count(server, BATCH_UPDATE) == math.ceil(len(changed) / 100)
    assert hubspot_values(server, contact_ids) == desired


def test_dry_run_writes_nothing_to_hubspot_or_the_state(server, warehouse: Path,
                                                        contact_ids) -> None:
    desired = assign(contact_ids, seed=5)
    write_model(warehouse, desired)
    report = run_sync(make_config(server, warehouse), dry_run=True)
    assert report.plan is not None
    assert report.plan.changing == sum(not v.empty for v in desired.values())
    assert report.property_changes is not None
    assert report.property_changes.missing == [SEGMENTS_PROPERTY, PRIMARY_PROPERTY]
    entered = {key: enters for key, (enters, _) in report.plan.movements.items()}
    assert entered == {k: sum(k in v.keys for v in desired.values()) for k in SEGMENTS}
    assert write_log(server) == []
    assert request_count(server, BATCH_UPDATE) == 0
    properties = api_put(server, f"/crm/v3/properties/contacts/{SEGMENTS_PROPERTY}", None,
                         "GET")
    assert properties.status_code == 404
    assert warehouse_rows(warehouse, "select count(*) from information_schema.schemata "
                                     "where schema_name = 'reverse_etl'") == [(0,)]


def test_options_follow_the_segments_mart(server, warehouse: Path, contact_ids) -> None:
    desired = assign(contact_ids, seed=6)
    write_model(warehouse, desired)
    run_sync(make_config(server, warehouse))

    # rfm_lost is retired, vip is new, high_value gets a new label; nobody holds rfm_lost.
    segments = (*(k for k in SEGMENTS if k != "rfm_lost"), "vip")
    moved = {cid: OwnedValues.of(";".join(sorted(v.keys - {"rfm_lost"})),
                                 "" if v.primary == "rfm_lost" else v.primary)
             for cid, v in desired.items()}
    write_model(warehouse, moved, segments, labels={"high_value": "Big spenders"})
    report = run_sync(make_config(server, warehouse, force=True))
    assert report.run.status == RunStatus.SUCCEEDED
    assert report.property_changes is not None
    assert report.property_changes.retired == {"rfm_lost"}
    assert report.property_changes.added == {"vip"}
    for name in (SEGMENTS_PROPERTY, PRIMARY_PROPERTY):
        definition = api_put(server, f"/crm/v3/properties/contacts/{name}", None, "GET").json()
        options = {o["value"]: o for o in definition["options"]}
        assert options["rfm_lost"]["hidden"] is True  # kept, never deleted
        assert options["vip"]["hidden"] is False
        assert options["high_value"]["label"] == "Big spenders"
        assert [o["value"] for o in definition["options"] if not o["hidden"]] == list(segments)
    assert hubspot_values(server, contact_ids) == moved

    # Nothing differs any more: the next run sends no property request at all.
    again = run_sync(make_config(server, warehouse))
    assert again.property_changes is not None
    assert not again.property_changes.any
    assert again.run.api_calls == 2  # the two property reads


def test_while_the_budget_holds_batches_back_the_journal_is_folded(
        server, warehouse: Path, contact_ids, monkeypatch) -> None:
    """The warehouse work no batch waits for (marking contacts that left the model, folding
    the journal) is done while the budget holds batches back; the end state is unchanged."""
    desired = assign(contact_ids, seed=7)
    write_model(warehouse, desired)
    assert run_sync(make_config(server, warehouse)).run.status == RunStatus.SUCCEEDED

    left = contact_ids[0]
    desired.update(day_of_changes(desired, share=0.5, seed=8))
    del desired[left]
    write_model(warehouse, desired)
    changed = {cid for cid, v in desired.items()
               if v != OwnedValues(*warehouse_rows(
                   warehouse, "select accepted_segments, accepted_primary from "
                   "reverse_etl.contact_state_current where contact_id = ?", [cid])[0])}
    assert math.ceil(len(changed) / 100) >= 3  # more batches than the budget lets through
    folds: list[int] = []  # contacts in flight when each fold started
    real_fold = SyncState.fold

    def fold(state: SyncState) -> None:
        folds.append(state.con.execute("select count(*) from reverse_etl.in_flight").fetchone()[0])
        real_fold(state)

    monkeypatch.setattr(SyncState, "fold", fold)
    base = make_config(server, warehouse)
    # 2 property reads + the batches, 4 per 10 s: the third batch on waits for the window.
    held = replace(base, hubspot=replace(base.hubspot, tier="custom", per_ten_seconds=4))
    report = run_sync(held, force=True)  # half the contacts change: past the guardrail
    assert report.run.status == RunStatus.SUCCEEDED
    assert report.left_model == 1
    # the start of the run (nothing to fold), at least once while held, the end of the run
    assert len(folds) >= 3, folds
    assert folds[0] == 0
    assert max(folds[1:-1]) >= 100, folds  # a held fold took in at least a batch
    assert hubspot_values(server, sorted(desired)) == desired
    state = {cid: (OwnedValues(segments, primary), status)
             for cid, segments, primary, status in warehouse_rows(
                 warehouse, "select contact_id, accepted_segments, accepted_primary, status "
                            "from reverse_etl.contact_state_current")}
    assert state.pop(left)[1] == "not_in_model"
    assert {cid: values for cid, (values, _) in state.items()} == desired
    assert {status for _, status in state.values()} == {"synced"}
