"""The nightly's steps as child processes: `hubseg extract`, `dbt build`, `hubseg sync`.

Why child processes: each step opens the working DuckDB file read-write, and DuckDB allows one
writing process per file, so running them one after another in separate processes is exactly
the concurrency model DuckDB wants; it also gives every step its own exit code, log and peak
memory, and a crash in one step cannot corrupt the nightly's own state. Children are tied to
the nightly (Linux `PR_SET_PDEATHSIG`): if the nightly is killed, its running step dies too
instead of holding the warehouse open behind the next run's back.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from hubseg.marts_file import marts_path, move_marts_out_of_working
from hubseg.nightly.dbt_results import read_run_results
from hubseg.nightly.layout import Layout
from hubseg.redact import Redactor

# Statuses a step ends with.
OK, FAILED, SKIPPED, BLOCKED = "ok", "failed", "skipped", "blocked"

# Exit codes of `hubseg nightly` (documented in the README and in `hubseg nightly --help`).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_DAILY_LIMIT = 3
EXIT_AUTH = 4
EXIT_EXTRACT = 5
EXIT_GUARDRAIL = 6
EXIT_BUILD = 7
EXIT_SYNC = 8
EXIT_PUBLISH = 9
EXIT_LOCKED = 10

# The step's own exit codes that keep their meaning in the nightly's (see pipelines/extract.py
# and reverse_etl): 2 configuration, 3 daily limit, 4 token or scopes, 6 sync guardrail.
_SHARED_CODES = {2: EXIT_CONFIG, 3: EXIT_DAILY_LIMIT, 4: EXIT_AUTH}
_EXTRACT_LINE = re.compile(r"extract (?P<state>[^:]+): (?P<rows>[\d,]+) rows, "
                           r"(?P<calls>[\d,]+) API calls")
TAIL_LINES = 12


@dataclass
class StepResult:
    name: str
    status: str = SKIPPED
    exit_code: int = EXIT_OK  # the nightly's code for this step's failure
    step_exit_code: int | None = None  # what the child process returned
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    metrics: dict[str, int] = field(default_factory=dict)
    message: str = ""
    log: str | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class StepContext:
    """What every step needs: the run, where files go, the child environment, the scrubber."""

    run_id: str
    layout: Layout
    env: dict[str, str]
    redact: Redactor
    dry_run: bool = False
    full_refresh: bool = False
    dbt_vars: dict[str, object] = field(default_factory=dict)


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    peak_rss_mb: float
    tail: list[str]
    log: Path


# -- running a child --------------------------------------------------------------------------

def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Ask the kernel to SIGTERM this child when the nightly dies (Linux only)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def run_child(argv: Sequence[str], ctx: StepContext, name: str) -> ChildRun:
    """Run one step, copying its redacted output to `<run dir>/<name>.log`."""
    log = ctx.layout.run_dir(ctx.run_id) / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    with log.open("w") as out:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, env=ctx.env,
                                preexec_fn=preexec)  # only prctl: fork-safe
        assert proc.stdout is not None
        for line in ctx.redact.lines(raw.rstrip("\n") for raw in proc.stdout):
            out.write(line + "\n")
            if line.strip():
                tail.append(line)
        # wait4, not wait: it also returns the child's resource usage (its peak memory).
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(proc.returncode, time.monotonic() - started, usage.ru_maxrss / 1024,
                    list(tail), log)


def _result(name: str, child: ChildRun) -> StepResult:
    return StepResult(name, OK if child.returncode == 0 else FAILED,
                      step_exit_code=child.returncode, seconds=round(child.seconds, 2),
                      peak_rss_mb=round(child.peak_rss_mb, 1), log=str(child.log))


_LOG_TIME = re.compile(r"^\d\d:\d\d:\d\d\s+")  # dbt's line prefix


def _failure_message(child: ChildRun) -> str:
    """The child's last meaningful lines: where its own error message is."""
    lines = [_LOG_TIME.sub("", line.strip()) for line in child.tail[-3:]]
    return " | ".join(line for line in lines if line) or "(no output)"


def hubseg_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "hubseg", *args]


# -- the steps --------------------------------------------------------------------------------

def run_extract_step(ctx: StepContext) -> StepResult:
    """`hubseg extract --quiet`: its one summary line gives rows loaded and API calls."""
    args = ["extract", "--quiet"] + (["--full-refresh"] if ctx.full_refresh else [])
    child = run_child(hubseg_argv(*args), ctx, "extract")
    result = _result("extract", child)
    for line in reversed(child.tail):
        match = _EXTRACT_LINE.search(line)
        if match:
            result.metrics = {"rows_loaded": _int(match["rows"]),
                              "api_calls": _int(match["calls"])}
            break
    if result.status == FAILED:
        result.exit_code = _SHARED_CODES.get(child.returncode, EXIT_EXTRACT)
        result.message = _failure_message(child)
    else:
        result.message = f"{result.metrics.get('rows_loaded', 0):,} rows loaded"
    return result


# Unit tests check the SQL against fixed inputs, not tonight's data: like dbt recommends for
# production, they run in development and CI, not every night. (bench/dbt_bench.py builds the
# same selection, so its figures are a night's.)
NIGHTLY_BUILD_SELECTION = ("--exclude-resource-type", "unit_test")


def dbt_argv(ctx: StepContext) -> list[str]:
    project = str(ctx.layout.project_dir)
    argv = [str(Path(sys.executable).with_name("dbt")), "build", "--project-dir", project,
            "--profiles-dir", project, "--target-path", str(ctx.layout.dbt_target),
            "--log-path", str(ctx.layout.run_dir(ctx.run_id) / "dbt-logs"), "--no-use-colors",
            # dbt's own file log is at debug level: compiled SQL, unit-test fixture rows. The
            # console output (info level, captured and redacted as build.log) is the log.
            "--log-level-file", "none", *NIGHTLY_BUILD_SELECTION]
    if ctx.dbt_vars:
        argv += ["--vars", json.dumps(ctx.dbt_vars)]
    return argv


def run_build_step(ctx: StepContext) -> StepResult:
    """`dbt build`; any model or error-severity test failure fails the step (warnings do not)."""
    results = ctx.layout.dbt_target / "run_results.json"
    results.unlink(missing_ok=True)  # never read the last run's results as tonight's
    try:
        moved = move_marts_out_of_working(ctx.layout.working)
    except (RuntimeError, OSError, duckdb.Error) as exc:
        return StepResult("build", FAILED, exit_code=EXIT_BUILD,
                          message=ctx.redact(f"cannot move the marts to their own file: {exc}"))
    child = run_child(dbt_argv(ctx), ctx, "build")
    result = _result("build", child)
    kept = ctx.layout.run_dir(ctx.run_id) / "dbt-target" / "run_results.json"
    if results.is_file():
        # Node messages quote DuckDB's errors, which quote values (an email address): scrubbed
        # like the logs, in the kept copy and in dbt's own target directory.
        text = ctx.redact.json_text(results.read_text())
        kept.parent.mkdir(parents=True, exist_ok=True)
        for path in (kept, results):
            path.write_text(text)
    outcome = read_run_results(kept)
    if outcome is not None:
        result.metrics = outcome.metrics()
    if child.returncode != 0 or outcome is None or outcome.blocking:
        result.status, result.exit_code = FAILED, EXIT_BUILD
        failed = ", ".join(outcome.failures[:5]) if outcome and outcome.failures else ""
        result.message = (f"dbt build failed: {failed}" if failed
                          else f"dbt build failed: {_failure_message(child)}")
    else:
        result.message = (f"{outcome.models_built} models and seeds built, "
                          f"{outcome.tests_passed} tests "
                          f"passed, {outcome.tests_warned} warned")
    if moved:  # once, on the first build after upgrading
        result.message += (f"; first moved {len(moved)} marts tables into "
                           f"{marts_path(ctx.layout.working).name}")
    return result


def sync_available() -> bool:
    """True once the reverse-ETL step has registered its `hubseg sync` command."""
    from hubseg.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in
             app.registered_commands}
    return "sync" in names


def run_sync_step(ctx: StepContext) -> StepResult:
    """`hubseg sync --quiet` (with `--dry-run` when asked); its numbers come from its run
    table (`reverse_etl.sync_runs`, found by the run id its summary line ends with), or, for a
    dry run (which records nothing), from the summary line itself."""
    if not sync_available():
        return StepResult("sync", SKIPPED, message="`hubseg sync` is not installed")
    args = ["sync", "--quiet"] + (["--dry-run"] if ctx.dry_run else [])
    child = run_child(hubseg_argv(*args), ctx, "sync")
    result = _result("sync", child)
    result.metrics = _sync_metrics(ctx.layout.working, child.tail)
    if result.status == FAILED:
        code = child.returncode
        result.exit_code = EXIT_GUARDRAIL if code == 6 else _SHARED_CODES.get(code, EXIT_SYNC)
        result.message = _failure_message(child)
    elif ctx.dry_run:
        result.message = (f"dry run: {result.metrics.get('planned', 0):,} contacts would "
                          "change; nothing written")
    else:
        result.message = (f"{result.metrics.get('contacts_synced', 0):,} contacts written "
                          f"({result.metrics.get('planned', 0):,} changing)")
    return result


_SYNC_RUN = re.compile(r"\[run (?P<run>[^\]\s]+)\]")
_SYNC_DRY = re.compile(r"(?P<planned>[\d,]+) contacts would change; (?P<calls>[\d,]+) API calls")


def _sync_metrics(working: Path, tail: list[str]) -> dict[str, int]:
    text = "\n".join(tail)
    run = _SYNC_RUN.search(text)
    if run:
        return read_sync_metrics(working, run["run"])
    dry = _SYNC_DRY.search(text)
    return {"planned": _int(dry["planned"]), "api_calls": _int(dry["calls"])} if dry else {}


def read_sync_metrics(working: Path, sync_run_id: str) -> dict[str, int]:
    """One run of the sync from `reverse_etl.sync_runs` in the working warehouse."""
    import duckdb

    try:
        with duckdb.connect(str(working), read_only=True) as con:
            row = con.execute("select planned, accepted, failed, dead_lettered, api_calls "
                              "from reverse_etl.sync_runs where run_id = ?",
                              [sync_run_id]).fetchone()
    except duckdb.Error:
        return {}
    if row is None:
        return {}
    names = ("planned", "contacts_synced", "contacts_failed", "dead_lettered", "api_calls")
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


def _int(text: str) -> int:
    return int(text.replace(",", ""))
