"""Batches sent concurrently keep every guarantee of the sequential sync.

Several batch requests in flight at once (`parallel_batches`), with 10% of reads and writes
failing (5xx, 429, dropped connections) and, on the second run, a contact deleted in HubSpot
and a row that cannot be sent: HubSpot ends equal to the model, no contact is ever written
twice with the same value (the sandbox's write log), every contact is settled exactly once per
value, and the run log counts what happened. A barrier inside the sender proves that two
batches really were in flight together (it breaks if they never are): no timing is asserted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest

from reverse_etl.sender import RowResult, Sender
from reverse_etl.sync import run_sync
from reverse_etl.values import OwnedValues
from tests.reverse_etl.helpers import (
    BATCH_READ,
    BATCH_UPDATE,
    api_put,
    assign,
    hubspot_values,
    make_config,
    warehouse_rows,
    write_log,
    write_model,
)

FAULTS = {"500": 0.04, "503": 0.02, "429": 0.02, "drop": 0.02}  # 10% of requests
WIDTH = 4


class ConcurrencyProbe:
    """Wraps the real `Sender.send`: counts sends in flight; the first two wait for each other
    (a barrier, which breaks if the sync never has two batches in flight at once)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.top_level = 0
        self.barrier = threading.Barrier(2, timeout=60)
        self.local = threading.local()
        real_send = Sender.send
        probe = self

        def send(sender: Sender, rows: Mapping[str, OwnedValues]) -> dict[str, RowResult]:
            nested = getattr(probe.local, "depth", 0) > 0  # a split batch's own parts
            if nested:
                return real_send(sender, rows)
            with probe.lock:
                probe.in_flight += 1
                probe.max_in_flight = max(probe.max_in_flight, probe.in_flight)
                probe.top_level += 1
                first_two = probe.top_level <= 2
            try:
                if first_two:
                    probe.barrier.wait()
                probe.local.depth = 1
                return real_send(sender, rows)
            finally:
                probe.local.depth = 0
                with probe.lock:
                    probe.in_flight -= 1

        monkeypatch.setattr(Sender, "send", send)


def changed(desired: dict[str, OwnedValues], ids: list[str]) -> dict[str, OwnedValues]:
    """Different values for `ids`: each gains rfm_lost, or loses it."""
    out = {}
    for cid in ids:
        keys = set(desired[cid].keys) ^ {"rfm_lost"}
        out[cid] = OwnedValues.of(";".join(keys), min(keys, default=""))
    return out


def test_concurrent_batches_with_faults_keep_every_guarantee(
        make_server, warehouse: Path, contact_ids: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server("--partial-failures", "400")  # a bad id rejects its whole batch
    server.admin("PUT", "config", json={"faultSeed": 31, "faults": [
        {"route": BATCH_UPDATE, "kinds": FAULTS}, {"route": BATCH_READ, "kinds": FAULTS}]})
    probe = ConcurrencyProbe(monkeypatch)
    config = make_config(server, warehouse, parallel_batches=WIDTH)

    # First run: every contact is read, then written, WIDTH batches at a time.
    desired = assign(contact_ids, seed=27, empty_share=0.0)
    write_model(warehouse, desired)
    first = run_sync(config)
    assert first.run.status == "succeeded"
    assert probe.max_in_flight >= 2  # the barrier also proved it
    assert 1 < probe.max_in_flight <= WIDTH
    assert sum(first.retries.values()) > 0  # faults happened, and were retried
    assert first.run.accepted == len(contact_ids)

    # Second run: 400 contacts change; one of them was deleted in HubSpot meanwhile (its batch
    # is rejected whole and split while other batches are in flight) and one names a segment
    # the mart does not declare (refused before sending).
    moving = contact_ids[100:500]
    desired.update(changed(desired, moving))
    gone, bad = moving[7], moving[250]
    desired[bad] = OwnedValues.of("rfm_lost;drifted_key", "rfm_lost")
    write_model(warehouse, desired)
    api_put(server, f"/crm/v3/objects/contacts/{gone}", None, "DELETE")
    second = run_sync(config, force=True)  # 400 of ~1,000 contacts: past the 20% guardrail
    assert second.run.status == "succeeded"
    assert second.run.deleted_in_hubspot == 1
    assert second.run.failed == 1
    assert second.run.accepted == len(moving) - 2

    server.admin("PUT", "config", json={"faults": []})
    held = hubspot_values(server, contact_ids)
    assert held[gone] is None
    expected = {c: v for c, v in desired.items() if c not in (gone, bad)}
    assert {c: v for c, v in held.items() if c not in (gone, bad)} == expected

    # No contact property was ever set twice to the same value, faults and all.
    writes = Counter((w["objectId"], w["property"], w["newValue"]) for w in write_log(server))
    assert [k for k, n in writes.items() if n > 1] == []
    # Every contact was settled once per value it was sent: the first run, then the movers.
    settled = dict(warehouse_rows(
        warehouse, "select contact_id, count(*) from reverse_etl.sync_changes "
                   "where outcome = 'accepted' group by 1"))
    assert settled == {c: 1 + (c in moving and c not in (gone, bad)) for c in contact_ids}
    [(in_flight,)] = warehouse_rows(warehouse, "select count(*) from reverse_etl.in_flight")
    assert in_flight == 0  # every batch sent was settled and folded
