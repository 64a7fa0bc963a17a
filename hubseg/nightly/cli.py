"""The `hubseg nightly` and `hubseg report` commands (registered in hubseg/cli.py)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hubseg.nightly.steps import (
    EXIT_CONFIG,
    EXIT_INTERNAL,
    EXIT_LOCKED,
    FAILED,
    OK,
    StepResult,
)

if TYPE_CHECKING:
    from hubseg.nightly.history import RunRecord

_MARK = {OK: "[green]✓[/]", FAILED: "[bold red]✗[/]", "skipped": "[dim]–[/]",
         "blocked": "[yellow]■[/]"}


def _parse_steps(only: str | None, skip: str | None) -> tuple[str, ...]:
    from hubseg.nightly.run import STEPS

    def names(raw: str) -> set[str]:
        chosen = {n.strip() for n in raw.split(",") if n.strip()}
        unknown = chosen - set(STEPS)
        if unknown:
            raise typer.BadParameter(f"unknown step(s) {', '.join(sorted(unknown))}; "
                                     f"steps are {', '.join(STEPS)}")
        return chosen

    selected = names(only) if only else set(STEPS)
    selected -= names(skip) if skip else set()
    return tuple(s for s in STEPS if s in selected)


def _as_of_date(value: str | None) -> str | None:
    """A real date, spelt as macros/as_of_date.sql accepts it (`fromisoformat` alone would
    also take 20261101 or 2026-W48-1, which the build would then refuse)."""
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--as-of-date must be YYYY-MM-DD, got {value!r}") from None
    return value


def _dbt_vars(raw: str | None) -> dict[str, object]:
    try:
        extra = json.loads(raw) if raw else {}
    except ValueError as exc:
        raise typer.BadParameter(f"--vars is not JSON: {exc}") from None
    if not isinstance(extra, dict):
        raise typer.BadParameter(
            "--vars must be a JSON object, e.g. '{\"attribution_window_days\": 14}'")
    return extra


def _step_line(step: StepResult) -> str:
    return (f"{_MARK.get(step.status, '?')} {step.name:<8} {step.status:<8} "
            f"{step.seconds:>7.1f} s  {escape(step.message)}")


def nightly_command(
    skip: Annotated[str | None, typer.Option(
        help="Comma-separated steps not to run: extract, build, sync, publish.")] = None,
    only: Annotated[str | None, typer.Option(
        help="Comma-separated steps to run (the others are skipped).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Pass --dry-run to the sync: plan the write-back, write nothing.")]
    = False,
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Reload everything from HubSpot (extract --full-refresh).")]
    = False,
    as_of_date: Annotated[str | None, typer.Option(
        help="The day segments are computed for (YYYY-MM-DD; default: today, UTC).")] = None,
    dbt_vars: Annotated[str | None, typer.Option(
        "--vars", help="More dbt vars as a JSON object.")] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="One summary line (for schedulers); details in the run log.")]
    = False,
    published: Annotated[Path | None, typer.Option(
        help="Where BI reads (default: published.duckdb beside the working warehouse; "
             "env HUBSEG_PUBLISHED).")] = None,
    project_dir: Annotated[Path | None, typer.Option(
        help="The dbt project (default: current directory; env HUBSEG_DBT_PROJECT_DIR).")]
    = None,
) -> None:
    """Extract → dbt build → sync → publish, as one run.

    The sync runs only when every model and error-severity test passed; the published
    warehouse BI reads is replaced atomically. Exit codes: 0 ok · 1 internal error ·
    2 configuration · 3 HubSpot daily API limit reached · 4 token refused or scope missing ·
    5 extract failed · 6 a sync guardrail stopped the write-back · 7 dbt build failed (a model
    or an error-severity test; nothing was synced or published) · 8 sync failed ·
    9 publish failed · 10 another nightly is running.
    """
    import duckdb

    from hubseg.config import ConfigError, load_config
    from hubseg.nightly.layout import resolve_layout
    from hubseg.nightly.lock import LockHeld
    from hubseg.nightly.run import NightlyOptions, run_nightly

    # soft_wrap: one message, one line, in a scheduler's log whatever its width
    out, err = Console(soft_wrap=quiet), Console(stderr=True, soft_wrap=True)
    options = NightlyOptions(steps=_parse_steps(only, skip), dry_run=dry_run,
                             full_refresh=full_refresh, dbt_vars=_dbt_vars(dbt_vars),
                             as_of_date=_as_of_date(as_of_date))
    try:
        config = load_config()
    except ConfigError as exc:
        err.print(f"[bold red]hubseg nightly: configuration error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_CONFIG) from None
    options.dbt_memory_limit = config.warehouse.dbt_memory_limit
    layout = resolve_layout(config.warehouse.path, published=published, project_dir=project_dir)
    token = config.hubspot.access_token.reveal()

    def on_start(name: str) -> None:
        if not quiet:
            out.print(f"[dim]… {name} running[/]", highlight=False)

    def on_step(step: StepResult) -> None:
        if not quiet:
            out.print(_step_line(step), highlight=False)

    try:
        record = run_nightly(layout, options, secrets=(token,), on_start=on_start,
                             on_step=on_step)
    except LockHeld as exc:
        err.print(f"[bold red]hubseg nightly refused:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_LOCKED) from None
    except duckdb.IOException as exc:  # e.g. a BI tool or notebook holds the working file
        err.print(f"[bold red]hubseg nightly: cannot open the working warehouse "
                  f"{layout.working}:[/] {escape(str(exc))}. Close whatever holds it open; BI "
                  f"and notebooks should read {layout.published} (read-only) instead.")
        raise typer.Exit(EXIT_INTERNAL) from None
    line = (f"nightly {record.run_id} {record.status} (exit {record.exit_code}): "
            f"{record.metric('rows_loaded'):,} rows loaded, {record.metric('models_built')} "
            f"models and seeds, {record.metric('tests_passed')} tests passed, "
            f"{record.metric('tests_failed')} failed, {record.metric('contacts_synced'):,} "
            f"contacts synced, {record.metric('api_calls'):,} API calls")
    if quiet:
        out.print(escape(line), highlight=False)
    else:
        out.print(_summary_table(record))
        out.print(escape(line), highlight=False)
        bi = (f"BI reads: {layout.published}" if layout.published.exists()
              else "BI reads: nothing published yet")
        out.print(f"Summary: {layout.last_run}  Logs: {layout.run_dir(record.run_id)}  {bi}",
                  highlight=False)
    if record.status != OK:
        err.print(f"[bold red]hubseg nightly failed:[/] {escape(record.message)}",
                  highlight=False)
    raise typer.Exit(record.exit_code or 0)



def _summary_table(record: RunRecord) -> Table:
    table = Table(title=f"nightly {record.run_id}", show_edge=False)
    for column in ("step", "status", "seconds", "peak MB", "result"):
        table.add_column(column)
    for step in record.steps.values():
        table.add_row(step.name, f"{_MARK.get(step.status, '')} {step.status}",
                      f"{step.seconds:.1f}", f"{step.peak_rss_mb:.0f}", escape(step.message))
    return table


def report_command(
    output: Annotated[Path, typer.Option(help="The HTML file to write.")]
    = Path(".hubseg/report/report.html"),
    published: Annotated[Path | None, typer.Option(
        help="The published warehouse to read (default: published.duckdb beside the working "
             "warehouse; env HUBSEG_PUBLISHED).")] = None,
) -> None:
    """Write a self-contained HTML report (charts and tables) from the published warehouse."""
    from hubseg.config import load_config
    from hubseg.nightly.layout import resolve_layout
    from hubseg.nightly.report import write_report

    layout = resolve_layout(load_config().warehouse.path, published=published)
    try:
        path = write_report(layout.published, output)
    except FileNotFoundError as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]hubseg report:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_CONFIG) from None
    typer.echo(f"Report written: {path.resolve()}")
