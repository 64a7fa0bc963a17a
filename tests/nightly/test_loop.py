"""Two real nights on a small portal (full, then incremental after a simulated day), with BI
readers querying the published warehouse throughout."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hubseg.marts_file import connect_working
from hubseg.nightly.local import portal_date
from hubseg.redact import EMAIL
from tests.nightly.conftest import REPO, Loop, assert_clean_reads, readers, start_loop

# Whole nights (extract + dbt build + sync) on a shared 2-core machine: more than the
# suite's default 600 s per test when the machine is busy.
pytestmark = pytest.mark.timeout(1800)

CHARTS = ("segment-sizes", "segments-over-time", "entries-exits", "campaigns",
          "campaign-segments")


@dataclass
class TwoNights:
    loop: Loop
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    readers: dict[str, dict[str, Any]] = field(default_factory=dict)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    as_of_dates: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def two_nights(small_portal: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[TwoNights]:
    root = tmp_path_factory.mktemp("two-nights")
    loop = start_loop(small_portal, root)
    nights = TwoNights(loop)
    try:
        with readers(loop.layout.published, root) as seen:
            for night in (1, 2):
                if night == 2:
                    loop.server.admin("POST", "advance", json={"days": 1}).raise_for_status()
                nights.as_of_dates.append(portal_date(loop.server))
                nights.runs.append(loop.run())
                nights.summaries.append(loop.last_run())
        nights.readers = seen
        yield nights
    finally:
        loop.server.stop()


def test_both_nights_succeed_and_the_second_is_incremental(two_nights: TwoNights) -> None:
    for run in two_nights.runs:
        assert run.returncode == 0, run.stdout + run.stderr
    first, second = two_nights.summaries
    for summary in (first, second):
        assert summary["status"] == "ok"
        assert summary["models_built"] > 0
        assert summary["tests_passed"] > 0
        assert summary["tests_failed"] == 0
        assert summary["publish_status"] == "ok"
    assert 0 < second["rows_loaded"] < first["rows_loaded"]
    with duckdb.connect(str(two_nights.loop.layout.published), read_only=True) as con:
        runs = con.execute("select run_id, status from nightly.runs order by started_at")
        assert runs.fetchall() == [(first["run_id"], "ok"), (second["run_id"], "ok")]
        manifest = dict(con.execute("select table_name, row_count from nightly.publication")
                        .fetchall())
        published_events = con.execute("select count(*) from marts.fct_email_events").fetchone()
    assert published_events == (manifest["marts.fct_email_events"],)
    with connect_working(two_nights.loop.layout.working, read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_email_events").fetchone() == (
            published_events)
    nodes = json.loads((two_nights.loop.layout.run_dir(second["run_id"]) / "dbt-target"
                        / "run_results.json").read_text())["results"]
    kinds = {node["unique_id"].split(".")[0] for node in nodes}
    assert "test" in kinds
    assert "unit_test" not in kinds  # unit tests run in development and CI, not nightly


def test_the_as_of_date_changes_without_a_full_reparse(two_nights: TwoNights) -> None:
    """Each night is computed as of its own date, and the second night's dbt keeps the first
    night's parse: only the models using the date are re-parsed."""
    first, second = two_nights.as_of_dates
    assert first < second
    with duckdb.connect(str(two_nights.loop.layout.published), read_only=True) as con:
        assert con.execute("select distinct cast(as_of_date as varchar) from marts.segments"
                           ).fetchall() == [(second,)]
    logs = [Path(s["steps"]["build"]["log"]).read_text() for s in two_nights.summaries]
    assert "Unable to do partial parsing" in logs[0]  # no saved parse yet: a full parse
    assert "partial parsing" not in logs[1].lower(), logs[1][:2000]


def test_readers_saw_only_whole_snapshots_and_never_an_error(two_nights: TwoNights) -> None:
    assert_clean_reads(two_nights.readers, runs=2)


def test_no_token_or_email_address_in_output_logs_or_summary(two_nights: TwoNights) -> None:
    token = two_nights.loop.server.token
    texts = {f"run {i} output": run.stdout + run.stderr
             for i, run in enumerate(two_nights.runs)}
    for path in two_nights.loop.layout.runs_dir.rglob("*"):
        # dbt's target holds the project (unit-test fixtures have made-up addresses); of it,
        # the run keeps run_results.json, whose messages quote failing values: scrubbed.
        if path.is_file() and ("dbt-target" not in path.parts
                               or path.name == "run_results.json"):
            texts[str(path)] = path.read_text(errors="replace")
    assert any(name.endswith("run_results.json") for name in texts)
    for name, text in texts.items():
        assert token not in text, name
        assert not EMAIL.search(text), f"{name}: {EMAIL.search(text)}"


def test_report_renders_its_charts_in_headless_chromium(two_nights: TwoNights,
                                                         tmp_path: Path) -> None:
    loop = two_nights.loop
    report = tmp_path / "report.html"
    written = subprocess.run([sys.executable, "-m", "hubseg", "report", "--output", str(report)],
                             cwd=REPO, env=loop.env, text=True, capture_output=True,
                             check=False)
    assert written.returncode == 0, written.stderr
    assert str(report.resolve()) in written.stdout
    page = report.read_text()
    assert not re.search(r"<(script|link)[^>]+(src|href)=", page)  # self-contained: offline
    dom = chromium(tmp_path, "--dump-dom", report)
    for chart in CHARTS:
        figure = re.search(rf'data-chart="{chart}".*?</figure>', dom, re.S)
        assert figure, chart
        assert 'class="main-svg"' in figure.group(0), f"{chart} was not drawn"
    chromium(tmp_path, f"--screenshot={tmp_path / 'report.png'}", report)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def chromium(tmp: Path, action: str, page: Path) -> str:
    """Run Debian's headless Chromium once on `page` (fresh profile, no network services)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "headless Chromium is needed: apt-get install -y chromium"
    profile = tmp / f"chromium-profile-{action.split('=')[0].strip('-')}"
    result = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,4000",
         "--virtual-time-budget=15000", action, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
