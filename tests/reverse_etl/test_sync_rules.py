"""The sync's decision rules on their own (no server): values, options, plan, refusals, guards."""

from __future__ import annotations

import json

import duckdb

from hubseg.config import SyncSettings
from reverse_etl.guardrails import before_sending, blocking
from reverse_etl.owned_properties import desired_options
from reverse_etl.plan import Candidate, make_plan
from reverse_etl.sender import RowOutcome, classify
from reverse_etl.state import PreviousRun, Status
from reverse_etl.values import EMPTY, OwnedValues, canonical_segments, canonical_segments_sql
from reverse_etl.warehouse import ModelProfile, SegmentDefinition

OPTIONS = frozenset({"a", "b", "c"})


def test_values_have_one_canonical_form() -> None:
    assert OwnedValues.of("b;a;;a ", " a") == OwnedValues("a;b", "a")
    assert OwnedValues.of(None, None) == EMPTY
    assert OwnedValues("a;b", "a").keys == {"a", "b"}


def test_the_warehouse_and_python_agree_on_the_canonical_form() -> None:
    raw = ["b;a;;a ", " c ;b", "", None, "a", ";;", "z;y;x;y"]
    rows = duckdb.connect().execute(
        f"select {canonical_segments_sql('v')} from unnest(?::varchar[]) as t(v)",
        [raw]).fetchall()
    assert [r[0] for r in rows] == [canonical_segments(v) for v in raw]


def test_retired_options_are_hidden_never_dropped() -> None:
    definitions = [SegmentDefinition("b", "B", "", 1), SegmentDefinition("c", "C", "", 2)]
    current = [{"value": "a", "label": "A", "hidden": False, "displayOrder": 0},
               {"value": "b", "label": "B", "hidden": True, "displayOrder": 1}]
    options = desired_options(definitions, current)
    assert [(o["value"], o["hidden"], o["displayOrder"]) for o in options] == [
        ("b", False, 0), ("c", False, 1), ("a", True, 2)]


def candidate(cid: str, desired: OwnedValues, accepted: OwnedValues,
              status: Status = Status.SYNCED, pending: OwnedValues | None = None,
              attempts: int = 0) -> Candidate:
    return Candidate(cid, desired, accepted, status, pending, attempts)


def test_the_plan_skips_parked_values_and_refuses_unknown_keys() -> None:
    ab, c = OwnedValues("a;b", "a"), OwnedValues("c", "c")
    plan = make_plan(10, [
        candidate("1", ab, EMPTY),
        candidate("2", c, EMPTY, Status.DEAD_LETTER, c, 5),  # same refused value: parked
        candidate("3", ab, EMPTY, Status.DEAD_LETTER, c, 5),  # a new value: a fresh start
        candidate("4", OwnedValues("a;zzz", "a"), EMPTY),
        candidate("5", EMPTY, ab),  # cleared
        candidate("6", ab, ab),
    ], OPTIONS, "marts.segments")
    assert [(ch.contact_id, ch.attempts) for ch in plan.changes] == [("1", 0), ("3", 0),
                                                                      ("5", 0)]
    assert plan.parked == 1
    assert [(ch.contact_id, "'zzz'" in why) for ch, why in plan.invalid] == [("4", True)]
    assert (plan.changing, plan.clears) == (4, 1)
    assert plan.movements == {"a": (2, 1), "b": (2, 1)}


def test_refusals_are_told_apart_from_missing_contacts() -> None:
    problems = [{"isValid": False, "message": "zzz was not one of the allowed options: [a, b]",
                 "error": "INVALID_OPTION", "name": "hubseg_segments"}]
    invalid = classify(400, "VALIDATION_ERROR",
                       "Property values were not valid: " + json.dumps(problems))
    assert invalid.outcome == RowOutcome.REFUSED
    assert "'zzz'" in (invalid.error or "")
    assert "hubseg_segments" in (invalid.error or "")
    missing = classify(400, "VALIDATION_ERROR", "Could not get some CONTACT objects, they may "
                                                "be deleted or not exist.")
    assert missing.outcome == RowOutcome.NOT_FOUND
    assert classify(207, "OBJECT_NOT_FOUND", "gone").outcome == RowOutcome.NOT_FOUND
    assert classify(400, "VALIDATION_ERROR", "something else").outcome == RowOutcome.REFUSED
    gone_property = [{"isValid": False, "message": 'Property "hubseg_primary_segment" does '
                      "not exist", "error": "PROPERTY_DOESNT_EXIST",
                      "name": "hubseg_primary_segment"}]
    refused = classify(400, "VALIDATION_ERROR",
                       "Property values were not valid: " + json.dumps(gone_property))
    assert refused.outcome == RowOutcome.REFUSED  # "does not exist" names a property here
    assert "'hubseg_primary_segment'" in (refused.error or "")


def test_guardrails_judge_shares_of_the_model() -> None:
    settings = SyncSettings()
    changing = [candidate(str(i), OwnedValues("a", "a"), OwnedValues("b", "b"))
                for i in range(30)]
    clearing = [candidate(str(i), EMPTY, OwnedValues("b", "b")) for i in range(30, 45)]
    plan = make_plan(100, changing + clearing, OPTIONS, "marts.segments")
    profile = ModelProfile(rows=100, null_ids=0, duplicate_ids=0)

    done = PreviousRun("r0", 100, finished=True, planned=10)
    later = before_sending(profile, plan, done, False, settings)
    assert [v.rule for v in later] == ["change_share", "clear_share"]
    assert "45 of 100 contacts (45.0%)" in later[0].message
    # Finishing a stopped run: no more changes than it was let through, judged as before.
    stopped = PreviousRun("r0", 100, finished=False, planned=45)
    assert [v.rule for v in before_sending(profile, plan, stopped, False, settings)] == [
        "clear_share"]
    bigger = PreviousRun("r0", 100, finished=False, planned=44)
    assert [v.rule for v in before_sending(profile, plan, bigger, False, settings)] == [
        "change_share", "clear_share"]
    first = before_sending(profile, plan, None, True, settings)
    assert [v.rule for v in first] == ["clear_share"]  # on a first run only clears count
    shrunk = before_sending(ModelProfile(70, 0, 0), make_plan(70, [], OPTIONS, "m.s"),
                            done, False, settings)
    assert [v.rule for v in shrunk] == ["row_drop"]
    assert blocking(shrunk, force=True) == []
    broken = before_sending(ModelProfile(100, 0, 2), make_plan(100, [], OPTIONS, "m.s"),
                            None, True, settings)
    assert [v.rule for v in blocking(broken, force=True)] == ["model_keys"]
