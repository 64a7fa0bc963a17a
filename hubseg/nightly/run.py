"""One nightly run: lock, extract → build → sync → publish, history, summary, exit code.

Which steps run:
- a step not selected (`--skip`/`--only`) is `skipped` and blocks nothing;
- a failed extract blocks everything after it (building on a partial load could sync wrong
  segments);
- a failed build (a model or an error-severity test) blocks the sync and the publication:
  nothing reaches HubSpot or BI, and yesterday's published file stays as it was;
- a failed sync does not block the publication: the marts passed their tests, and the run
  table tells BI what happened to the write-back.
The exit code is that of the first failing step (see `steps.EXIT_*`).

The publication overlaps the sync: when the sync starts the marts are final, so their file is
copied beside the published one meanwhile (`publish.Publication`); the publish step then adds
the run history, with the sync's outcome, and renames the copy into place.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hubseg.nightly import history
from hubseg.nightly.history import RunRecord, new_run_id, utc_now
from hubseg.nightly.layout import Layout
from hubseg.nightly.lock import nightly_lock
from hubseg.nightly.publish import Publication
from hubseg.nightly.steps import (
    BLOCKED,
    EXIT_BUILD,
    EXIT_OK,
    EXIT_PUBLISH,
    FAILED,
    OK,
    SKIPPED,
    StepContext,
    StepResult,
    run_build_step,
    run_extract_step,
    run_sync_step,
)
from hubseg.redact import Redactor

STEPS = history.STEP_NAMES
# What a failure of each step blocks.
_BLOCKS: dict[str, tuple[str, ...]] = {
    "extract": ("build", "sync", "publish"),
    "build": ("sync", "publish"),
    "sync": (),
    "publish": (),
}


@dataclass
class NightlyOptions:
    steps: tuple[str, ...] = STEPS
    dry_run: bool = False
    full_refresh: bool = False
    dbt_vars: dict[str, object] = field(default_factory=dict)
    # The as-of date reaches dbt as env HUBSEG_AS_OF_DATE, not as a var: a var that changes
    # every night makes dbt re-parse the whole project; an env var re-parses only the models
    # that use it (macros/as_of_date.sql).
    as_of_date: str | None = None
    # DuckDB's memory cap for the dbt step (config `dbt_memory_limit`); "" = DuckDB's default.
    dbt_memory_limit: str = ""


def run_nightly(layout: Layout, options: NightlyOptions, *, secrets: tuple[str, ...] = (),
                env: dict[str, str] | None = None,
                on_start: Callable[[str], None] = lambda _name: None,
                on_step: Callable[[StepResult], None] = lambda _r: None) -> RunRecord:
    """Run the nightly under its lock (raises `LockHeld` if another one runs).

    `on_start(step name)` and `on_step(result)` let a terminal show progress: steps take
    minutes on a real portal."""
    record = RunRecord(new_run_id(), dry_run=options.dry_run)
    with nightly_lock(layout.lock, record.run_id):
        history.begin(layout.working, record)
        # A scheduler reading last_run.json after a kill sees this run, `running`, not the last
        # one that finished (a SIGKILL skips the `finally` below).
        history.write_summary(record, layout.last_run, layout.run_dir(record.run_id))
        ctx = StepContext(
            run_id=record.run_id, layout=layout, redact=Redactor(secrets),
            env=_child_env(layout, record.run_id, env, options), dry_run=options.dry_run,
            full_refresh=options.full_refresh, dbt_vars=options.dbt_vars)
        try:
            _run_steps(record, ctx, options.steps, on_start, on_step)
        finally:
            _finish(record)
            history.finish(layout.working, record)
            history.write_summary(record, layout.last_run, layout.run_dir(record.run_id))
    return record


def _child_env(layout: Layout, run_id: str, env: dict[str, str] | None,
               options: NightlyOptions) -> dict[str, str]:
    """Every step works on the working warehouse and knows the run id; dbt reads the as-of
    date and its memory cap from the environment (macros/as_of_date.sql, profiles.yml)."""
    child = {**(env if env is not None else os.environ), "HUBSEG_WAREHOUSE": str(layout.working),
             "HUBSEG_RUN_ID": run_id, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
             "COLUMNS": "250"}  # steps print through rich: no wrapping of their summary lines
    if options.as_of_date:
        child["HUBSEG_AS_OF_DATE"] = options.as_of_date
    if options.dbt_memory_limit:
        child["HUBSEG_DBT_MEMORY_LIMIT"] = options.dbt_memory_limit
    return child


def _run_steps(record: RunRecord, ctx: StepContext, selected: tuple[str, ...],
               on_start: Callable[[str], None], on_step: Callable[[StepResult], None]) -> None:
    blocked: set[str] = set()
    # Tests gate the write-back even when this run does not build: marts whose last build
    # failed (dbt writes a model before testing it) count as a failed build.
    untested = (history.untested_build(ctx.layout.working, record.run_id)
                if "build" not in selected and {"sync", "publish"} & set(selected) else None)
    publication: Publication | None = None
    try:
        for name in STEPS:
            if name == "build" and untested:
                result = StepResult(name, FAILED, exit_code=EXIT_BUILD, message=untested)
            elif name not in selected:
                result = StepResult(name, SKIPPED, message="not selected")
            elif name in blocked:
                result = StepResult(name, BLOCKED, message="blocked by an earlier failure")
            else:
                on_start(name)
                started = time.monotonic()
                if name == "sync" and "publish" in selected and "publish" not in blocked:
                    # The marts are final: copy them for BI while the sync talks to HubSpot.
                    publication = _start_publication(ctx)
                result = (_publish_step(record, ctx, publication) if name == "publish"
                          else _RUNNERS[name](ctx))
                # The step's whole wall time: its child process and our work around it
                # (e.g. the build step's one-off move of the marts).
                result.seconds = round(time.monotonic() - started, 2)
            record.steps[name] = result
            if result.status == FAILED:
                blocked.update(_BLOCKS[name])
            on_step(result)
    finally:
        if publication is not None:
            publication.abandon()


_RUNNERS: dict[str, Callable[[StepContext], StepResult]] = {
    "extract": run_extract_step, "build": run_build_step, "sync": run_sync_step,
}


def _start_publication(ctx: StepContext) -> Publication | None:
    """None if it cannot start (no marts yet): the publish step then reports why."""
    try:
        return Publication(ctx.layout.working, ctx.layout.published, ctx.run_id)
    except Exception:  # raised again, with its message, by the publish step
        return None


def _publish_step(record: RunRecord, ctx: StepContext,
                  publication: Publication | None) -> StepResult:
    """Publish with this run's history row as it will end (publish `ok`), then swap it in."""
    result = StepResult("publish", OK)
    record.steps["publish"] = result
    _finish(record)
    try:
        publication = publication or Publication(ctx.layout.working, ctx.layout.published,
                                                 ctx.run_id)
        counts = publication.complete(record)
    except Exception as exc:  # the old published file is untouched: report and go on
        result.status, result.exit_code = FAILED, EXIT_PUBLISH
        result.message = ctx.redact(str(exc))
    else:  # the copy's time overlapped the sync's: it is not part of this step's seconds
        result.metrics = {"tables_published": len(counts),
                          "marts_copy_ms": round(publication.wait_copied() * 1000)}
        result.message = f"{len(counts)} tables published to {ctx.layout.published}"
    record.ended_at = None
    return result


def _finish(record: RunRecord) -> None:
    """Overall status, exit code and message from the steps."""
    failed = [step for step in record.steps.values() if step.status == FAILED]
    record.ended_at = utc_now()
    if failed:
        record.status, record.exit_code = FAILED, failed[0].exit_code
        record.message = f"{failed[0].name}: {failed[0].message}"
    elif len(record.steps) < len(STEPS):
        record.status, record.exit_code = "interrupted", 1
        record.message = "the run stopped before all steps ran"
    else:
        record.status, record.exit_code = OK, EXIT_OK
        record.message = "; ".join(f"{s.name}: {s.message}" for s in record.steps.values()
                                   if s.status == OK)
