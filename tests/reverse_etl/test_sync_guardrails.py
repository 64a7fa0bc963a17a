"""Guardrails stop a broken model before the first write; refused rows retry, then park.

A sabotaged model that empties half the segments writes nothing (not even options), says
the numbers, and `--force` proceeds; an empty or shrunken model stops too; duplicate ids stop
even `--force`; more refused rows than the limit fail the run after recording them; a row
refused `max_attempts` times is dead-lettered and left alone until its value changes.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from reverse_etl.cli import EXIT_GUARDRAIL, EXIT_OK, EXIT_REJECTED, report_exit_code
from reverse_etl.state import RunStatus
from reverse_etl.sync import run_sync
from reverse_etl.values import OwnedValues
from tests.reverse_etl.helpers import (
    BATCH_UPDATE,
    SEGMENTS,
    assign,
    hubspot_values,
    make_config,
    request_count,
    warehouse_rows,
    write_log,
    write_model,
)

PROPERTY_ROUTE = "/crm/v3/properties/{object_type}/{property_name}"


def without(values: dict[str, OwnedValues], dropped: set[str]) -> dict[str, OwnedValues]:
    """The same membership with the `dropped` segments emptied."""
    out = {}
    for cid, v in values.items():
        keys = sorted(v.keys - dropped, key=SEGMENTS.index)
        out[cid] = OwnedValues.of(";".join(keys), keys[0] if keys else "")
    return out


def synced(server, warehouse: Path, contact_ids: list[str], seed: int
           ) -> dict[str, OwnedValues]:
    desired = assign(contact_ids, seed=seed)
    write_model(warehouse, desired)
    assert run_sync(make_config(server, warehouse)).run.status == RunStatus.SUCCEEDED
    server.admin("POST", "reset", json={"requests": True, "writes": True})
    return desired


def assert_nothing_written(server) -> None:
    assert write_log(server) == []
    assert request_count(server, BATCH_UPDATE) == 0
    assert request_count(server, PROPERTY_ROUTE, method="PATCH") == 0


def test_a_model_emptying_half_the_segments_is_stopped_and_force_proceeds(
        server, warehouse: Path, contact_ids) -> None:
    desired = synced(server, warehouse, contact_ids, seed=31)
    sabotaged = without(desired, set(SEGMENTS[:4]))
    write_model(warehouse, sabotaged)
    changing = sum(sabotaged[c] != desired[c] for c in contact_ids)
    cleared = sum(bool(desired[c].segments) and not sabotaged[c].segments
                  for c in contact_ids)

    report = run_sync(make_config(server, warehouse))
    assert report.run.status == RunStatus.ABORTED
    assert report_exit_code(report) == EXIT_GUARDRAIL
    assert {v.rule for v in report.blocked} == {"change_share", "clear_share"}
    reason = report.run.abort_reason or ""
    assert f"{changing:,} of {len(contact_ids):,} contacts" in reason
    assert f"{cleared:,} of {len(contact_ids):,} contacts" in reason
    assert "--force" in reason
    assert_nothing_written(server)

    forced = run_sync(make_config(server, warehouse), force=True)
    assert forced.run.status == RunStatus.SUCCEEDED
    assert report_exit_code(forced) == EXIT_OK
    assert forced.run.accepted == changing
    assert hubspot_values(server, contact_ids) == sabotaged


def test_an_empty_or_shrunken_model_is_stopped(server, warehouse: Path, contact_ids) -> None:
    synced(server, warehouse, contact_ids, seed=32)
    write_model(warehouse, {})
    empty = run_sync(make_config(server, warehouse))
    assert empty.run.status == RunStatus.ABORTED
    assert "empty_model" in {v.rule for v in empty.blocked}

    kept = contact_ids[: int(len(contact_ids) * 0.7)]
    write_model(warehouse, assign(kept, seed=32))  # the same values, 30% fewer rows
    shrunk = run_sync(make_config(server, warehouse))
    assert [v.rule for v in shrunk.blocked] == ["row_drop"]
    assert f"the sync model has {len(kept):,} rows" in shrunk.blocked[0].message
    assert_nothing_written(server)

    forced = run_sync(make_config(server, warehouse, force=True))  # the config override
    assert forced.run.status == RunStatus.SUCCEEDED
    assert forced.left_model == len(contact_ids) - len(kept)
    assert forced.run.sent == 0  # the contacts that left the model are never written


def test_duplicate_contact_ids_stop_even_force(server, warehouse: Path, contact_ids) -> None:
    desired = synced(server, warehouse, contact_ids, seed=33)
    write_model(warehouse, desired)
    rows = warehouse_rows(warehouse, "select count(*) from "
                                     "marts.sync_hubspot__contact_segments")
    assert rows == [(len(contact_ids),)]
    con = duckdb.connect(str(warehouse))
    con.execute("insert into marts.sync_hubspot__contact_segments "
                "select * from marts.sync_hubspot__contact_segments limit 3")
    con.close()
    report = run_sync(make_config(server, warehouse), force=True)
    assert report.run.status == RunStatus.ABORTED
    assert [(v.rule, v.overridable) for v in report.blocked] == [("model_keys", False)]
    assert "3 duplicate contact ids" in report.blocked[0].message
    assert_nothing_written(server)


def test_too_many_refused_rows_fail_the_run_after_recording(server, warehouse: Path,
                                                            contact_ids) -> None:
    desired = assign(contact_ids, seed=34, empty_share=0.0)
    bad = contact_ids[::10]  # 10% of the rows name a key the mart does not declare
    for cid in bad:
        desired[cid] = OwnedValues.of("high_value;retired_key", "high_value")
    write_model(warehouse, desired)
    report = run_sync(make_config(server, warehouse))
    assert report.run.status == RunStatus.FAILED
    assert report_exit_code(report) == EXIT_REJECTED
    assert report.rejected is not None
    assert f"{len(bad):,} of {len(contact_ids):,} rows" in report.rejected.message
    good = [c for c in contact_ids if c not in set(bad)]
    written = hubspot_values(server, contact_ids)
    assert all(written[c] == desired[c] for c in good)
    assert all(written[c] == OwnedValues() for c in bad)
    recorded = warehouse_rows(warehouse, "select count(*) from reverse_etl.sync_changes "
                                         "where outcome = 'failed' and error like "
                                         "'%''retired_key''%'")
    assert recorded == [(len(bad),)]


def test_a_row_refused_max_attempts_times_is_dead_lettered_until_it_changes(
        server, warehouse: Path, contact_ids) -> None:
    desired = assign(contact_ids, seed=35)
    bad = contact_ids[5]
    desired[bad] = OwnedValues.of("not_a_segment", "not_a_segment")
    write_model(warehouse, desired)
    config = make_config(server, warehouse, max_attempts=3)
    outcomes = [run_sync(config).run for _ in range(4)]
    assert [(r.failed, r.dead_lettered) for r in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    assert outcomes[3].planned == 0
    assert warehouse_rows(warehouse, "select status, attempts from reverse_etl.contact_state "
                                     "where contact_id = ?", [bad]) == [("dead_letter", 3)]

    desired[bad] = OwnedValues.of("rfm_loyal", "rfm_loyal")  # the model is fixed
    write_model(warehouse, desired)
    fixed = run_sync(config)
    assert (fixed.run.accepted, fixed.run.failed) == (1, 0)
    assert hubspot_values(server, [bad]) == {bad: desired[bad]}
