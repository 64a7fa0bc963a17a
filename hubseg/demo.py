"""`hubseg demo`: the whole loop on a laptop, against the embedded default (sandbox + DuckDB).

1. generate the synthetic `demo` portal (once; about 10k contacts, 100 campaigns) and serve it;
2. `nightly`: extract everything → dbt build → write the segments back → publish for BI;
3. show what it found: segment sizes, the best and worst segments of the latest campaigns,
   contacts written back;
4. simulate a day in the portal (`advance --days 1`, about 1% of contacts change);
5. `nightly` again: an incremental extract and a diff-only write-back;
6. write the HTML report, print its path, stop the sandbox.

All of the demo's state lives under `.hubseg/demo/` (the warehouse, published file, runs and
dlt state are reset at every start; the portal is kept), never in the user's own warehouse.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from hubseg.nightly.history import RunRecord
from hubseg.nightly.local import local_layout, portal_date, sandbox_env
from hubseg.nightly.publish import open_published
from hubseg.nightly.report import entries_and_exits, segment_rankings, segment_sizes, write_report
from hubseg.nightly.run import NightlyOptions, run_nightly
from hubseg.nightly.steps import OK, StepResult
from sandbox.server.process import RunningServer, start_server

DEMO_ROOT = Path(".hubseg/demo")
DEMO_STORE = DEMO_ROOT / "portal.sqlite"
REPORT = DEMO_ROOT / "report.html"
console = Console()


def ensure_portal(store: Path, *, seed: int = 42) -> None:
    """Generate the `demo` portal unless one is already there (generation takes a while)."""
    if store.exists():
        console.print(f"Using the demo portal at {store} (delete it to regenerate).")
        return
    from sandbox.portal.generate import generate

    console.print("Generating the synthetic `demo` portal (about 10k contacts, 100 campaigns)…")
    summary = generate(store, preset="demo", seed=seed, anchor=None, custom_properties=0)
    console.print(f"Generated: {summary.get('contacts')} contacts, "
                  f"{summary.get('campaigns')} campaigns, {summary.get('email_events')} email "
                  "events.")


def reset_loop_state(root: Path) -> None:
    """A fresh warehouse every demo: the as-of date follows the portal, never goes back."""
    for name in ("warehouse", "runs", "dlt"):
        shutil.rmtree(root / name, ignore_errors=True)


def nightly(server: RunningServer, root: Path, title: str) -> RunRecord:
    console.rule(title)
    as_of = portal_date(server)

    def show(step: StepResult) -> None:
        mark = "[green]✓[/]" if step.status == OK else f"[red]{step.status}[/]"
        console.print(f"  {mark} {step.name:<8} {step.seconds:6.1f} s  {step.message}",
                      highlight=False)

    record = run_nightly(local_layout(root), NightlyOptions(as_of_date=as_of),
                         secrets=(server.token,), env=sandbox_env(server, root),
                         on_start=lambda name: console.print(f"  [dim]… {name} running[/]"),
                         on_step=show)
    if record.status != OK:
        console.print(f"[bold red]The nightly failed:[/] {record.message}")
        console.print(f"Logs: {local_layout(root).run_dir(record.run_id)}")
        raise typer.Exit(record.exit_code or 1)
    console.print(f"Run {record.run_id} (as of {as_of}): {record.metric('rows_loaded'):,} rows "
                  f"loaded, {record.metric('models_built')} models and seeds, "
                  f"{record.metric('tests_passed')} tests passed, "
                  f"{record.metric('contacts_synced'):,} contacts written back, "
                  f"{record.metric('api_calls'):,} API calls.")
    return record


def _table(title: str, rows: list[dict[str, object]], columns: list[str]) -> Table:
    table = Table(title=title, show_edge=False)
    for column in columns:
        table.add_column(column, justify="left" if column.endswith(("key", "label")) else "right")
    for row in rows:
        table.add_row(*(_fmt(row.get(c)) for c in columns))
    return table


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.1%}" if 0 <= value <= 1 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value or "")


def show_findings(root: Path) -> None:
    """What BI now sees in the published warehouse."""
    with open_published(local_layout(root).published) as con:
        sizes = segment_sizes(con)
        ranking = segment_rankings(con)
    console.print(_table("Largest segments", sizes[:12],
                         ["segment_key", "segment_label", "member_count", "share_of_contacts"]))
    console.print(_table("Best segments of the last 5 campaigns (click rate)", ranking[:5],
                         ["segment_key", "delivered", "unique_clicks", "click_rate"]))
    console.print(_table("Worst segments of the last 5 campaigns", ranking[-5:][::-1],
                         ["segment_key", "delivered", "unique_clicks", "click_rate"]))


def show_changes(root: Path) -> None:
    with open_published(local_layout(root).published) as con:
        moves = [r for r in entries_and_exits(con) if r["entries"] or r["exits"]]
    console.print(_table("Entries and exits since the last run", moves[:12],
                         ["segment_key", "entries", "exits"]))


def run_demo(store: Path = DEMO_STORE, root: Path = DEMO_ROOT) -> None:
    ensure_portal(store)
    reset_loop_state(root)
    with start_server(store) as server:
        console.print(f"Sandbox serving at {server.base_url}")
        nightly(server, root, "Nightly 1: full load, build, write-back, publish")
        show_findings(root)
        console.rule("A day passes in the portal")
        day = server.admin("POST", "advance", json={"days": 1}).json()
        console.print(f"Simulated one day ({day['from'][:10]} → {day['to'][:10]}): "
                      f"contacts {day['contacts']}, {day['campaigns_created']} new "
                      f"campaign(s), {sum(day['events'].values()):,} email events.")
        nightly(server, root, "Nightly 2: incremental load, diff-only write-back")
        show_changes(root)
        report = write_report(local_layout(root).published, REPORT)
    console.print("Sandbox stopped.")
    console.print(f"[bold]Report:[/] {report.resolve()}  (open it in a browser)")
