"""The nightly hands dbt its DuckDB memory cap (`[hubseg] dbt_memory_limit`), and refuses a
cap DuckDB would not understand before anything runs; what it keeps of dbt's output is
scrubbed of addresses however they are written; one warehouse has one lock, whatever its
name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubseg.nightly.dbt_results import read_run_results
from hubseg.nightly.layout import resolve_layout
from hubseg.nightly.local import local_layout
from hubseg.nightly.run import NightlyOptions, _child_env
from hubseg.nightly.steps import EXIT_CONFIG
from hubseg.redact import Redactor
from tests.nightly.conftest import run_nightly_cli


def test_the_configured_cap_reaches_the_steps_environment(tmp_path: Path) -> None:
    layout = local_layout(tmp_path)
    capped = _child_env(layout, "run-1", {}, NightlyOptions(dbt_memory_limit="2GB"))
    assert capped["HUBSEG_DBT_MEMORY_LIMIT"] == "2GB"  # profiles.yml reads it
    assert "HUBSEG_DBT_MEMORY_LIMIT" not in _child_env(layout, "run-1", {}, NightlyOptions())


def test_a_cap_duckdb_would_refuse_stops_the_nightly_before_it_starts(tmp_path: Path) -> None:
    result = run_nightly_cli(tmp_path, HUBSEG_DBT_MEMORY_LIMIT="lots")
    assert result.returncode == EXIT_CONFIG
    assert "dbt_memory_limit (HUBSEG_DBT_MEMORY_LIMIT) must be an amount" in " ".join(
        result.stderr.split())
    assert not local_layout(tmp_path).last_run.exists()  # no run was started


@pytest.mark.parametrize(("text", "kept"), [
    ("Could not convert string 'josé@example.com' to INT", "Could not convert string "
                                                            "<value> to INT"),
    ('duplicate key "jane@münchen.de"', "duplicate key <value>"),
    ('Conversion Error: invalid timestamp field format: "Matthew Hale +1 555 0100", expected '
     'format is (YYYY-MM-DD)', "Conversion Error: invalid timestamp field format: <value>, "
                               "expected format is (YYYY-MM-DD)"),
    ("Invalid Input Error: Could not parse 'Ann' as a date", "Invalid Input Error: Could not "
                                                             "parse <value> as a date"),
    ('Catalog Error: Table with name "stg_x" does not exist', 'Catalog Error: Table with name '
                                                               '"stg_x" does not exist'),
    ("user: josé@example.com", "user: <email>"),
    ("Conversion Error: Could not convert string 'Jean O'Neil' to DATE",
     "Conversion Error: Could not convert string <value> to DATE"),
    ('ERROR: invalid input value for enum tier: "Ann Lee"',
     "ERROR: invalid input value for enum tier: <value>"),
    ('ERROR: date/time field value out of range: "Ann Lee"',
     "ERROR: date/time field value out of range: <value>"),
    ("DETAIL: Failing row contains (42, Ann, Lee, +1 555 0100).",
     "DETAIL: Failing row contains <values>"),
    ("DETAIL: Key (email)=(ann lee) already exists.", "DETAIL: Key <values>"),
    ("https://x.test/?e=jane%40example.com&b=1", "https://x.test/?e=<email>&b=1"),
    ("o'brien@example.co.uk wrote", "<email> wrote"),
    ("@contextmanager and dbt=1.11.16", "@contextmanager and dbt=1.11.16"),
    # a value holding line breaks (a multi-line text property), closed lines later
    ("Conversion Error: Could not convert string 'Ann Lee\nflat 2\n+1 555 0100' to DATE\n"
     "LINE 1: select", "Conversion Error: Could not convert string <value> to DATE\nLINE 1: "
                       "select"),
    # an apostrophe of the message itself, never closed: the rest of its line only
    ("Invalid Input Error: can't parse Ann Lee\nnext line", "Invalid Input Error: can<value>"
                                                           "\nnext line"),
    ("Invalid Input Error: can't parse Ann Lee\n\nLINE 1: select * where stage = 'lead'",
     "Invalid Input Error: can<value>\n\nLINE 1: select * where stage = 'lead'"),
    # the value's own quotes, on its first line or a later one, and a long value
    ("Conversion Error: Could not convert string 'Ann O'Neil\nflat 2\n+1 555' to INT32",
     "Conversion Error: Could not convert string <value> to INT32"),
    ("Conversion Error: Could not convert string 'Ann Lee\nO'Neil Road 2\n+1 555 0100' to "
     "DATE", "Conversion Error: Could not convert string <value> to DATE"),
    ("Conversion Error: Could not convert string 'Ann\n" + "line\n" * 12 + "+1 555' to DATE",
     "Conversion Error: Could not convert string <value> to DATE"),
    # PostgreSQL's row detail over several lines, up to its closing parenthesis
    ("DETAIL:  Failing row contains (1, Ann Lee\nflat 2\n+1 555 0100, null).\nCONTEXT: x",
     "DETAIL:  Failing row contains <values>\nCONTEXT: x"),
    ("DETAIL:  Key (addr)=(flat 2\n+1 555 0100) already exists.",
     "DETAIL:  Key <values>"),
    # DuckDB's echo of a value it could not parse (as DuckDB 2.0 prints it)
    ('Invalid Input Error: Could not parse string "Ann Lee" according to format specifier '
     '"%Y-%m-%d"\nAnn Lee\n^\nError: Expected a number',
     "Invalid Input Error: Could not parse string <value>\n<value>\n^\nError: Expected a "
     "number"),
    ('Invalid Input Error: Could not parse string "Ann\nLee" according to format specifier '
     '"%Y-%m-%d"\nAnn\nLee\n^\nError: Expected a number',
     "Invalid Input Error: Could not parse string <value>\n<value>\n^\nError: Expected a "
     "number"),
])
def test_addresses_are_scrubbed_however_written(text: str, kept: str) -> None:
    assert Redactor()(text) == kept


def test_a_stream_is_scrubbed_a_block_at_a_time() -> None:
    """dbt's output as the nightly reads it, a line at a time: a value over several lines is
    held until its error's block ends (the next timestamped line), then scrubbed whole."""
    stream = ["20:01:02  Conversion Error: Could not convert string 'Ann Lee", "flat 2",
              "+1 555 0100' to DATE", "20:01:03  Done. PASS=1 ERROR=1",
              "20:01:04  user jane@example.com"]
    assert list(Redactor().lines(stream)) == [
        "20:01:02  Conversion Error: Could not convert string <value> to DATE",
        "20:01:03  Done. PASS=1 ERROR=1", "20:01:04  user <email>"]
    # PostgreSQL's row detail over several lines (a build on the postgres target)
    rows = ["20:01:05  DETAIL:  Failing row contains (1, Ann Lee", "flat 2, null).",
            "20:01:06  Done."]
    assert list(Redactor().lines(rows)) == ["20:01:05  DETAIL:  Failing row contains <values>",
                                            "20:01:06  Done."]


def test_a_json_file_is_scrubbed_whatever_its_escapes() -> None:
    """dbt writes run_results.json with non-ASCII escaped (jos\\u00e9@…): the address must
    still go, and the file stay valid JSON."""
    raw = json.dumps({"results": [{"message": 'Conversion Error: "josé@münchen.de" and '
                                              '"Ann Lee"', "rows": 3}], "n": "josé@x.de"})
    assert "\\u00e9" in raw  # escaped, as dbt writes it
    scrubbed = Redactor().json_text(raw)
    assert json.loads(scrubbed) == {"results": [{"message": "Conversion Error: <value>",
                                                 "rows": 3}],
                                    "n": "<email>"}
    assert "jos" not in scrubbed


def test_two_names_of_one_warehouse_share_one_lock(tmp_path: Path) -> None:
    working = tmp_path / "hubseg.duckdb"
    working.touch()
    (tmp_path / "current.duckdb").symlink_to(working)
    assert resolve_layout(tmp_path / "current.duckdb").lock == resolve_layout(working).lock


def test_a_failed_model_says_why_on_the_terminal(tmp_path: Path) -> None:
    """The run's message names a failed model with dbt's reason (its heading line dropped);
    a failed test is named alone."""
    history_error = ("Compilation Error in model segment_membership_history "
                     "(models/marts/segments/segment_membership_history.sql)\n"
                     "  segment_membership_history is recorded up to 2026-12-01;\n"
                     "  as_of_date 2026-11-01 goes back in time.")
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps({"results": [
        {"unique_id": "model.hubseg.segment_membership_history", "status": "error",
         "message": history_error},
        {"unique_id": "test.hubseg.assert_rates", "status": "fail", "message": "Got 1 result"},
        {"unique_id": "model.hubseg.dim_contacts", "status": "success", "message": "OK"},
    ]}))
    outcome = read_run_results(path)
    assert outcome is not None
    assert outcome.failures == [
        "model.hubseg.segment_membership_history (segment_membership_history is recorded up "
        "to 2026-12-01; as_of_date 2026-11-01 goes back in time.)",
        "test.hubseg.assert_rates"]
    assert (outcome.models_built, outcome.models_failed, outcome.tests_failed) == (1, 1, 1)
