"""`hubseg sync`: write segment membership back to HubSpot, show what happened, exit.

Exit codes (those of `hubseg extract`, plus two of the sync's own):

| code | meaning |
|---|---|
| 0 | done: HubSpot holds the sync model's values (refused rows within the limit) |
| 2 | usage or configuration error, or the models are missing (nothing was written) |
| 3 | HubSpot's daily API limit was reached: what was accepted is recorded; the next run resumes |
| 4 | HubSpot refused the token (401) or a scope is missing (403) |
| 5 | any other failure (host unreachable, HubSpot kept failing); accepted batches are recorded |
|   | and the next run resumes |
| 6 | a guardrail stopped the run before any write (a dry run: a real run would stop) |
| 7 | the run finished, but HubSpot refused more rows than `max_reject_share` |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hubseg.config import load_config
from hubseg.redact import Redactor
from pipelines.extract import (
    EXIT_DAILY_LIMIT,
    EXIT_FAILED,
    EXIT_OK,
    exit_code,
    live_progress,
    root_cause,
)

if TYPE_CHECKING:  # DuckDB and the sync load only when the command runs, not for every `hubseg`
    from reverse_etl.plan import Plan
    from reverse_etl.sync import SyncReport

EXIT_GUARDRAIL = 6
EXIT_REJECTED = 7
RESUME_NOTE = ("Every batch HubSpot accepted before the failure is recorded in the warehouse "
               "(reverse_etl); the next `hubseg sync` resumes without resending it.")


def report_exit_code(report: SyncReport) -> int:
    if report.blocked:
        return EXIT_GUARDRAIL
    if report.stopped_by is not None:
        return EXIT_DAILY_LIMIT
    if report.rejected is not None:
        return EXIT_REJECTED
    return EXIT_OK


# -- presenting -------------------------------------------------------------------------------

def movements_table(plan: Plan) -> Table:
    table = Table(title="segment membership changes", show_edge=False)
    table.add_column("segment")
    table.add_column("enter", justify="right")
    table.add_column("leave", justify="right")
    for key, (enters, leaves) in plan.movements.items():
        table.add_row(key, f"{enters:,}", f"{leaves:,}")
    return table


def samples_table(plan: Plan, rows: int) -> Table:
    """A few planned changes: contact ids and values only (never names or emails)."""
    table = Table(title=f"sample changes (first {rows})", show_edge=False)
    table.add_column("contact id")
    table.add_column("segments now → planned")
    table.add_column("primary now → planned")
    for change in plan.changes[:rows]:
        table.add_row(change.contact_id,
                      f"{change.old.segments or '—'} → {change.new.segments or '—'}",
                      f"{change.old.primary or '—'} → {change.new.primary or '—'}")
    return table


def plan_lines(report: SyncReport) -> list[str]:
    plan, size = report.plan, report.batch_size
    assert plan is not None
    props = report.property_changes
    prop_calls = props.write_calls if props is not None else 0
    lines = [
        f"contacts in the sync model: {plan.model_rows:,}",
        f"contacts read from HubSpot first (new to the sync, or left in flight): "
        f"{report.contacts_read:,}",
        f"contacts changing: {plan.changing:,} (of which {plan.clears:,} lose every segment)",
        f"batches of ≤ {size}: {plan.write_calls(size):,} batch updates"
        f" + {prop_calls} property request(s)",
    ]
    if plan.invalid:
        lines.append(f"refused before sending (unknown segment key): {len(plan.invalid):,}, "
                     f"e.g. contact {plan.invalid[0][0].contact_id}: {plan.invalid[0][1]}")
    if plan.parked:
        lines.append(f"parked (dead-lettered or deleted in HubSpot, value unchanged): "
                     f"{plan.parked:,}")
    return lines


def one_line(report: SyncReport) -> str:
    run = report.run
    if report.dry_run:
        verdict = "a real run would stop at a guardrail" if report.blocked else "plan ready"
        return (f"sync --dry-run: {verdict}; nothing written. {run.planned:,} contacts would "
                f"change; {run.api_calls:,} API calls made (reads)")
    outcomes = [f"{run.accepted:,} accepted"] + [
        f"{count:,} {label}" for count, label in (
            (run.failed, "failed"), (run.dead_lettered, "dead-lettered"),
            (run.deleted_in_hubspot, "deleted in HubSpot"),
            (run.confirmed, "confirmed from an interrupted run")) if count]
    return (f"sync {run.status}: {run.model_rows or 0:,} contacts in the model, "
            f"{run.planned:,} changing; {', '.join(outcomes)}; {run.api_calls:,} API calls "
            f"({report.write_calls:,} batch updates), {report.duration_s:.1f} s "
            f"[run {run.run_id}]")


def print_report(out: Console, err: Console, report: SyncReport, *, quiet: bool) -> None:
    if not quiet:
        changes = report.property_changes
        for line in (changes.lines() if changes is not None else []):
            out.print(f"properties: {escape(line)}", highlight=False)
        if report.plan is not None:
            if report.plan.movements:
                out.print(movements_table(report.plan))
            for line in plan_lines(report):
                out.print(escape(line), highlight=False)
            if report.dry_run and report.plan.changes and report.sample_rows:
                out.print(samples_table(report.plan, report.sample_rows))
    forced = [v for v in report.violations if v not in report.blocked]
    for violation in forced:
        err.print(f"[yellow]--force: proceeding although {escape(violation.message)}[/]",
                  highlight=False)
    if report.blocked and report.run.abort_reason:
        err.print(f"[bold red]{escape(report.run.abort_reason)}[/]", highlight=False)
    if report.rejected is not None:
        err.print(f"[bold red]hubseg sync failed: {escape(report.rejected.message)}[/]",
                  highlight=False)
    if report.stopped_by is not None:
        err.print(f"[bold yellow]{escape(str(report.stopped_by))}[/]", highlight=False)
    # One unwrapped line: schedulers (and `hubseg nightly`) parse it, e.g. its `[run <id>]`.
    out.print(escape(one_line(report)), highlight=False, soft_wrap=True)


# -- the command ------------------------------------------------------------------------------

def sync_command(
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan; write nothing to HubSpot or to the state.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Proceed although a guardrail would stop the run.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress and no tables: one summary line (for schedulers).")]
    = False,
    base_url: Annotated[str | None, typer.Option(
        help="HubSpot API base URL (overrides HUBSPOT_BASE_URL).")] = None,
    tier: Annotated[str | None, typer.Option(
        help="Rate-limit tier: starter, pro, enterprise, custom or unlimited (sandbox).")]
    = None,
) -> None:
    """Write segment membership to HubSpot: only what changed, in batches, guarded."""
    from reverse_etl.sync import run_sync

    out = Console()
    err = Console(stderr=True)
    try:
        config = load_config(base_url=base_url, tier=tier)
        with live_progress(err, enabled=not quiet and err.is_terminal) as progress:
            report = run_sync(config, dry_run=dry_run, force=force, progress=progress)
    except Exception as exc:  # every failure becomes a message and a documented exit code
        err.print(f"[bold red]hubseg sync failed:[/] "
                  f"{escape(Redactor()(str(root_cause(exc))))}", highlight=False)
        code = exit_code(exc)
        if code == EXIT_FAILED:  # the shared client's messages describe the extract's load
            err.print(RESUME_NOTE, highlight=False)
        raise typer.Exit(code) from None
    print_report(out, err, report, quiet=quiet)
    raise typer.Exit(report_exit_code(report))
