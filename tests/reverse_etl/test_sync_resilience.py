"""Faults, interruptions and bad rows: the sync ends right, writes nothing twice, blocks nothing.

- 10% of batch updates (and reads) fail → HubSpot ends equal to the model, and no contact is
  written twice with the same value;
- a run killed after HubSpot accepted a batch but before it was recorded → the next run
  confirms the batch by reading it back instead of resending it;
- SIGKILL at random moments, then a run to the end → correct, nothing accepted resent;
- a contact deleted in HubSpot → marked and never retried, the run succeeds, in both partial
  failure modes (207 per input; whole-batch 400, bisected: 99 written, 1 recorded);
- a segment key that is not an option → refused (named), the 99 others in one request;
- HubSpot's own INVALID_OPTION on one input of a whole-batch 400 → bisected down to it.
"""

from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hubseg.api import HubSpotClient
from reverse_etl.contacts_api import ContactsApi
from reverse_etl.owned_properties import OwnedProperties
from reverse_etl.sender import RowOutcome, Sender
from reverse_etl.state import Sending, SyncState
from reverse_etl.sync import run_sync
from reverse_etl.values import OwnedNames, OwnedValues
from tests.reverse_etl.helpers import (
    BATCH_READ,
    BATCH_UPDATE,
    api_put,
    assign,
    hubspot_values,
    make_config,
    request_count,
    warehouse_rows,
    write_log,
    write_model,
)


def shifted(desired: dict[str, OwnedValues], ids: list[str]) -> dict[str, OwnedValues]:
    """New, different values for `ids`: each gains high_value, or loses it."""
    out = {}
    for cid in ids:
        keys = set(desired[cid].keys) ^ {"high_value"}
        primary = "high_value" if "high_value" in keys else min(keys, default="")
        out[cid] = OwnedValues.of(";".join(keys), primary)
    return out


def assert_no_repeated_writes(server) -> None:
    """No contact property was ever set twice to the same value."""
    seen = Counter((w["objectId"], w["property"], w["newValue"]) for w in write_log(server))
    assert [k for k, n in seen.items() if n > 1] == []


def test_ten_percent_faults_end_correct_without_double_writes(server, warehouse: Path,
                                                              contact_ids) -> None:
    faults = {"500": 0.04, "503": 0.02, "429": 0.02, "drop": 0.02}
    server.admin("PUT", "config", json={"faultSeed": 11, "faults": [
        {"route": BATCH_UPDATE, "kinds": faults}, {"route": BATCH_READ, "kinds": faults}]})
    desired = assign(contact_ids, seed=21, empty_share=0.0)  # every contact is written
    write_model(warehouse, desired)
    report = run_sync(make_config(server, warehouse))
    assert report.run.status == "succeeded"
    assert sum(report.retries.values()) > 0  # the faults did happen, and were retried
    assert request_count(server, BATCH_UPDATE) > math.ceil(len(contact_ids) / 100)
    server.admin("PUT", "config", json={"faults": []})
    assert hubspot_values(server, contact_ids) == desired
    assert_no_repeated_writes(server)


def test_a_batch_accepted_but_not_recorded_is_confirmed_not_resent(server, warehouse: Path,
                                                                   contact_ids) -> None:
    desired = assign(contact_ids, seed=22)
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    run_sync(config)
    moved = shifted(desired, contact_ids[:250])
    desired.update(moved)
    write_model(warehouse, desired)

    # What a run killed right after HubSpot's answer leaves: a batch journaled in flight (the
    # write-ahead), applied in HubSpot, its outcome never recorded.
    first_batch = contact_ids[:100]
    con = duckdb.connect(str(warehouse))
    SyncState(con).mark_in_flight("killed-run", [Sending(cid, moved[cid], 0)
                                                 for cid in first_batch])
    con.close()
    client = HubSpotClient(config.hubspot)
    names = OwnedNames.from_settings(config.sync)
    results = Sender(ContactsApi(client, names)).send({c: moved[c] for c in first_batch})
    client.close()
    assert {r.outcome for r in results.values()} == {RowOutcome.ACCEPTED}

    server.admin("POST", "reset", json={"requests": True, "writes": True})
    report = run_sync(config)
    assert report.run.confirmed == 100
    assert report.run.accepted == 150
    assert {w["objectId"] for w in write_log(server)} == set(contact_ids[100:250])
    assert request_count(server, BATCH_UPDATE) == 2
    assert hubspot_values(server, contact_ids) == desired


def _sync_process(server, warehouse: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HUBSPOT_BASE_URL": server.base_url,
           "HUBSPOT_ACCESS_TOKEN": server.token, "HUBSEG_WAREHOUSE": str(warehouse),
           # a slow budget (6 requests/s) keeps the run long enough to be killed mid-way
           "HUBSPOT_TIER": "custom", "SOURCES__HUBSPOT__PER_TEN_SECONDS": "60",
           "SOURCES__HUBSPOT__SAFETY_MARGIN": "0", "HUBSEG__SYNC__PARALLEL_BATCHES": "2"}
    return subprocess.Popen([sys.executable, "-m", "hubseg", "sync", "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_after(server, process: subprocess.Popen[bytes], route: str, more: int) -> bool:
    """SIGKILL `process` as soon as the sandbox answered `more` further requests on `route`."""
    target = request_count(server, route) + more
    while process.poll() is None:
        if request_count(server, route) >= target:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.01)
    return False


def _settled_writes(server) -> set[str]:
    """The contacts written so far, once a request a killed run left in flight is answered
    (the sandbox still applies it): the log has not grown for half a second."""
    seen = len(write_log(server))
    while True:
        time.sleep(0.5)
        log = write_log(server)
        if len(log) == seen:
            return {w["objectId"] for w in log}
        seen = len(log)


def test_sigkill_at_random_moments_then_rerun(server, warehouse: Path, contact_ids) -> None:
    desired = assign(contact_ids, seed=23, empty_share=0.0)
    write_model(warehouse, desired)
    rnd = random.Random(5)
    # Kill points spread over the run: while seeding (reads), then while writing batches.
    points = [(BATCH_READ, rnd.randint(1, 5)), *[(BATCH_UPDATE, rnd.randint(1, 3))
                                                   for _ in range(3)]]
    kills = sum(_kill_after(server, _sync_process(server, warehouse), route, more)
                for route, more in points)
    written_before = _settled_writes(server)
    final = _sync_process(server, warehouse)
    assert final.wait(timeout=300) == 0
    assert kills >= 3
    assert hubspot_values(server, contact_ids) == desired
    assert_no_repeated_writes(server)
    # Every batch update HubSpot accepted changed something: none was a resend.
    writing_requests = {w["requestId"] for w in write_log(server)}
    assert request_count(server, BATCH_UPDATE, 200) == len(writing_requests)
    outcomes = warehouse_rows(
        warehouse, "select contact_id, count(*), count(distinct run_id) "
                   "from reverse_etl.sync_changes "
                   "where outcome in ('accepted', 'confirmed') group by 1")
    assert {cid for cid, _, _ in outcomes} == set(contact_ids)
    assert {n for _, n, _ in outcomes} == {1}  # each contact settled exactly once
    # The killed runs died while writing (HubSpot had applied at least 2 + 3 + 2 batches), and
    # the last run sent exactly the contacts none of them had written: the others it recorded
    # from the killed runs' journal or confirmed by reading them back.
    assert len(written_before) >= 700
    final_sent = warehouse_rows(
        warehouse, "select count(*) from reverse_etl.sync_changes where outcome = 'accepted' "
                   "and run_id = (select run_id from reverse_etl.sync_runs "
                   "order by started_at desc limit 1)")
    assert final_sent[0][0] == len(set(contact_ids) - written_before)
    interrupted = warehouse_rows(warehouse, "select count(*) from reverse_etl.sync_runs "
                                            "where status = 'interrupted'")
    assert interrupted[0][0] == kills  # each was recorded before its first contact read


@pytest.mark.parametrize("mode", ["207", "400", "400 in other words"])
def test_a_contact_deleted_in_hubspot_is_marked_and_not_retried(make_server, warehouse: Path,
                                                                contact_ids, mode) -> None:
    server = make_server("--partial-failures", mode[:3])
    if mode == "400 in other words":  # HubSpot's wording is undocumented: rely on none
        server.admin("PUT", "config", json={"missingObjectsMessage": "Invalid input for 1 "
                                            "object", "missingObjectsIds": False})
    desired = assign(contact_ids, seed=24)
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    run_sync(config)
    batch = contact_ids[:100]
    gone = batch[37]
    desired.update(shifted(desired, batch))
    write_model(warehouse, desired)
    assert api_put(server, f"/crm/v3/objects/contacts/{gone}", None, "DELETE").status_code == 204

    server.admin("POST", "reset", json={"requests": True, "writes": True})
    report = run_sync(config)
    assert report.run.status == "succeeded"
    assert (report.run.accepted, report.run.deleted_in_hubspot) == (99, 1)
    assert {w["objectId"] for w in write_log(server)} == set(batch) - {gone}
    if mode == "400":  # the 400 names the missing id: it is split off, the 99 go at once
        assert request_count(server, BATCH_UPDATE, 400) == 2
        assert request_count(server, BATCH_UPDATE, 200) == 1
    if mode == "400 in other words":  # halved to it (100, 50, 25, 13, 6, 3, 1), then read
        assert request_count(server, BATCH_UPDATE, 400) == 7
        assert request_count(server, BATCH_READ, 200) + request_count(server, BATCH_READ,
                                                                       207) == 1
    assert warehouse_rows(warehouse, "select status from reverse_etl.contact_state "
                                     "where contact_id = ?", [gone]) == [("deleted_in_hubspot",)]
    del desired[gone]
    assert {c: v for c, v in hubspot_values(server, contact_ids).items() if c != gone} == desired

    server.admin("POST", "reset", json={"requests": True, "writes": True})
    again = run_sync(config)
    assert (again.run.sent, again.plan.parked if again.plan else None) == (0, 1)
    assert request_count(server, BATCH_UPDATE) == 0


def test_an_unknown_segment_key_is_refused_and_the_rest_written(server, warehouse: Path,
                                                                contact_ids) -> None:
    desired = assign(contact_ids, seed=25)
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    run_sync(config)
    batch = contact_ids[:100]
    desired.update(shifted(desired, batch))
    bad = batch[10]
    desired[bad] = OwnedValues.of("high_value;not_a_segment", "high_value")
    write_model(warehouse, desired)

    server.admin("POST", "reset", json={"requests": True, "writes": True})
    report = run_sync(config)
    assert report.run.status == "succeeded"  # 1 refused of 100 is within the 5% limit
    assert (report.run.accepted, report.run.failed) == (99, 1)
    assert request_count(server, BATCH_UPDATE) == 1
    assert {w["objectId"] for w in write_log(server)} == set(batch) - {bad}
    [(status, attempts, error)] = warehouse_rows(
        warehouse, "select status, attempts, last_error from reverse_etl.contact_state "
                   "where contact_id = ?", [bad])
    assert (status, attempts) == ("failed", 1)
    assert "'not_a_segment'" in error


def test_hubspot_invalid_option_in_a_whole_batch_400_is_bisected(make_server,
                                                                  warehouse: Path,
                                                                  contact_ids) -> None:
    server = make_server("--partial-failures", "400")
    desired = assign(contact_ids, seed=26)
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    run_sync(config)  # creates the properties and their options
    batch = contact_ids[:100]
    rows = shifted(desired, batch)
    rows[batch[63]] = OwnedValues.of("drifted_key", "drifted_key")  # not an option in HubSpot

    client = HubSpotClient(config.hubspot)
    results = Sender(ContactsApi(client, OwnedNames.from_settings(config.sync))).send(rows)
    client.close()
    refused = {c: r for c, r in results.items() if r.outcome != RowOutcome.ACCEPTED}
    assert list(refused) == [batch[63]]
    assert refused[batch[63]].outcome == RowOutcome.REFUSED
    assert "'drifted_key'" in (refused[batch[63]].error or "")
    assert "INVALID_OPTION" in (refused[batch[63]].error or "")
    written = hubspot_values(server, batch)
    assert all(written[c] == rows[c] for c in batch if c != batch[63])


def test_a_first_run_stopped_partway_is_finished_by_the_next_without_force(
        server, warehouse: Path, contact_ids) -> None:
    """The change guardrail let the first run's population through; a run stopped partway
    (Ctrl-C here) leaves the rest to the next run, which must not be held at the guardrail."""
    desired = assign(contact_ids, seed=51, empty_share=0.0)
    write_model(warehouse, desired)
    config = make_config(server, warehouse, parallel_batches=1)
    batches = 0

    def stop_after_three(phase: str, rows: int) -> None:
        nonlocal batches
        batches += phase.startswith("written")
        if batches == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sync(config, progress=stop_after_three)
    assert len({w["objectId"] for w in write_log(server)}) == 300  # 3 batches of 100
    report = run_sync(config)  # as the nightly runs it: no --force
    assert report.run.status == "succeeded", report.run.abort_reason
    assert report.run.first_run is False
    assert report.run.accepted == len(contact_ids) - 300
    assert hubspot_values(server, contact_ids) == desired
    # A plan larger than what the stopped run was let through is judged as usual.
    write_model(warehouse, {cid: OwnedValues.of("high_value", "high_value")
                            for cid in contact_ids})
    assert run_sync(config).run.status == "aborted"


def test_a_merged_contacts_write_is_read_back_from_its_survivor(
        server, portal_copy: Path, warehouse: Path, contact_ids) -> None:
    """HubSpot applies a write to a merged-away id onto the survivor and answers 200 under the
    survivor's id: the survivor's value is then unknown, so the next run reads it back and
    writes what the model wants for it."""
    desired = assign(contact_ids, seed=52)
    loser, survivor = contact_ids[10], contact_ids[11]
    desired[survivor] = OwnedValues.of("rfm_lost", "rfm_lost")
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    assert run_sync(config).run.status == "succeeded"
    store = sqlite3.connect(portal_copy)  # HubSpot merges the loser into the survivor
    with store:
        store.execute("delete from objects where object_type = 'contacts' and id = ?",
                      [int(loser)])
        store.execute("insert into merged_ids values ('contacts', ?, ?)",
                      [int(loser), int(survivor)])
    store.close()
    desired[loser] = OwnedValues.of("rfm_champions", "rfm_champions")  # built before the merge
    write_model(warehouse, desired)
    report = run_sync(config)
    assert report.run.deleted_in_hubspot == 1
    assert report.run.accepted == 0
    assert hubspot_values(server, [survivor])[survivor] == desired[loser]  # HubSpot's doing
    report = run_sync(config)
    assert report.run.accepted == 1  # the survivor, read back and put right
    assert hubspot_values(server, [survivor])[survivor] == desired[survivor]
    assert run_sync(config).run.planned == 0


def test_a_merge_within_a_207_answer_is_read_back_from_its_survivor(
        make_server, portal_copy: Path, warehouse: Path, contact_ids) -> None:
    """The same merge in a batch that HubSpot answers 207 (another input was deleted): the
    answer under an id nobody sent is the survivor, so it is read back next run, and the
    merged input is not retried."""
    server = make_server("--partial-failures", "207")
    desired = assign(contact_ids, seed=55)
    loser, survivor, gone = contact_ids[10], contact_ids[11], contact_ids[12]
    desired[survivor] = OwnedValues.of("rfm_lost", "rfm_lost")
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    assert run_sync(config).run.status == "succeeded"
    store = sqlite3.connect(portal_copy)
    with store:
        store.execute("delete from objects where object_type = 'contacts' and id in (?, ?)",
                      [int(loser), int(gone)])
        store.execute("insert into merged_ids values ('contacts', ?, ?)",
                      [int(loser), int(survivor)])
    store.close()
    desired[loser] = OwnedValues.of("rfm_champions", "rfm_champions")
    desired[gone] = OwnedValues.of("rfm_champions", "rfm_champions")
    write_model(warehouse, desired)
    report = run_sync(config)
    assert report.run.deleted_in_hubspot == 2
    assert hubspot_values(server, [survivor])[survivor] == desired[loser]  # HubSpot's doing
    assert run_sync(config).run.accepted == 1  # the survivor, read back and put right
    assert hubspot_values(server, [survivor])[survivor] == desired[survivor]
    assert run_sync(config).run.planned == 0


def test_a_property_deleted_while_the_run_sends_parks_no_contact(
        server, warehouse: Path, contact_ids, monkeypatch: pytest.MonkeyPatch) -> None:
    """PROPERTY_DOESNT_EXIST ("Property … does not exist") is a refusal of every row, not a
    missing contact: the run fails and the next one creates the property and writes them all."""
    write_model(warehouse, assign(contact_ids, seed=53))
    config = make_config(server, warehouse, max_change_share=1.0, max_clear_share=1.0)
    assert run_sync(config).run.status == "succeeded"
    desired = assign(contact_ids, seed=54)
    write_model(warehouse, desired)
    inspect = OwnedProperties.inspect

    def inspect_then_delete(self: OwnedProperties, *args: Any) -> Any:
        changes = inspect(self, *args)  # someone deletes the property right after the check
        api_put(server, "/crm/v3/properties/contacts/hubseg_primary_segment", None, "DELETE")
        return changes

    monkeypatch.setattr(OwnedProperties, "inspect", inspect_then_delete)
    server.admin("POST", "reset", json={"requests": True, "writes": True})
    report = run_sync(config)
    monkeypatch.setattr(OwnedProperties, "inspect", inspect)
    assert report.run.status == "failed"
    assert report.run.deleted_in_hubspot == 0
    assert report.run.failed == report.run.planned > 0
    # Refused whole: one request per batch, not split down to single inputs.
    assert request_count(server, BATCH_UPDATE) == math.ceil(report.run.planned / 100)
    report = run_sync(config)
    assert report.run.status == "succeeded"
    assert hubspot_values(server, contact_ids) == desired


def test_a_contact_back_in_the_model_is_read_back_not_trusted(server, warehouse: Path,
                                                              contact_ids) -> None:
    """While a contact is out of the model (archived, say) HubSpot's value may change (a write
    left in flight when it left, an edit): back in the model, it is read back, then written."""
    desired = assign(contact_ids, seed=55, empty_share=0.0)
    write_model(warehouse, desired)
    config = make_config(server, warehouse)
    assert run_sync(config).run.status == "succeeded"
    cid = contact_ids[5]
    write_model(warehouse, {k: v for k, v in desired.items() if k != cid})
    assert run_sync(config).left_model == 1
    cleared = {"properties": {"hubseg_segments": "", "hubseg_primary_segment": ""}}
    assert api_put(server, f"/crm/v3/objects/contacts/{cid}", cleared, "PATCH").ok
    write_model(warehouse, desired)  # back, wanting the value the state last saw accepted
    report = run_sync(config)
    assert report.run.accepted == 1
    assert hubspot_values(server, [cid])[cid] == desired[cid]
