"""`hubseg extract`: run the HubSpot source into the warehouse, show progress, report, exit.

Exit codes (documented in the README):

| code | meaning |
|---|---|
| 0 | every selected resource is up to date |
| 2 | usage or configuration error (nothing was requested from HubSpot) |
| 3 | HubSpot's daily API limit was reached: what was fetched is loaded; the next run resumes |
| 4 | HubSpot refused the token (401) or a scope is missing (403) |
| 5 | any other failure (host unreachable, HubSpot kept failing, load error); what the run |
|   | committed (email events load in packages as they come, each with the state that |
|   | resumes after it) is consistent, so running again is always safe |
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from hubseg.api import (
    AuthError,
    DailyLimitReached,
    HubSpotApiError,
    HubSpotClient,
    MissingScopesError,
)
from hubseg.config import ConfigError, HubsegConfig, load_config, require_token
from hubseg.redact import Redactor
from pipelines.hubspot.settings import RESOURCES

if TYPE_CHECKING:  # dlt takes seconds to import: only `run_extract` needs it at run time
    import dlt

    from pipelines.hubspot.context import ProgressFn

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_DAILY_LIMIT = 3
EXIT_AUTH = 4
EXIT_FAILED = 5
PIPELINE_NAME = "hubspot"
IMPORT_SCRATCH = "import-scratch"  # in the pipeline's working dir, so files can be hard-linked


@dataclass
class ExtractReport:
    """What one run did: rows loaded per table, API calls and retries per resource, time."""

    rows: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    window_end_ms: int | None = None
    stopped_by: DailyLimitReached | None = None
    steps_s: dict[str, float] = field(default_factory=dict)  # STEPS
    resumed_packages: int = 0  # packages a killed or failed run left, loaded first

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_retries(self) -> int:
        return sum(self.retries.values())


# -- running ------------------------------------------------------------------------------------

def make_pipeline(config: HubsegConfig, name: str = PIPELINE_NAME
                  ) -> tuple[dlt.Pipeline, str | None]:
    """A dlt pipeline and its loader file format; working state per destination."""
    import dlt

    from pipelines.warehouse import destination_for

    warehouse = config.warehouse
    destination, file_format = destination_for(warehouse.destination, warehouse.path.resolve())
    pipeline = dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(warehouse.dlt_dir.resolve() / warehouse.destination),
        destination=destination,
        dataset_name=warehouse.dataset_name,
    )
    return pipeline, file_format


PhaseFn = Callable[[str], None]
STEPS = ("resume", "extract", "normalize", "load", "events")


@contextmanager
def _step(report: ExtractReport, name: str, on_step: PhaseFn | None) -> Iterator[None]:
    """Time one step into `report.steps_s` and announce it."""
    if on_step is not None:
        on_step(name)
    started = time.monotonic()
    try:
        yield
    finally:
        report.steps_s[name] = round(time.monotonic() - started, 2)


def _finish_pending(pipeline: dlt.Pipeline) -> int:
    """Load what a killed or failed run left on disk (dlt keeps its packages) before anything
    else, so its rows and state land first; `pipeline.run` would stop right after them."""
    extracted = pipeline.list_extracted_load_packages()
    if extracted:
        pipeline.normalize()  # the file format was fixed when the package was extracted
    normalized = pipeline.list_normalized_load_packages()
    if normalized:
        pipeline.load()
    return len(normalized)


def _hand_over_events(pipeline: dlt.Pipeline, full_refresh: bool) -> dict[str, Any] | None:
    """Before the events had a pipeline of their own (`events_lane.py`), the main pipeline
    loaded them. Take their tables out of its schema, or a full refresh of it would drop what
    the events pipeline loads (a full refresh drops them here, as the events pipeline, new,
    cannot). Return the events state it kept, for the events pipeline to start from while its
    own state is empty, so an upgraded warehouse does not read every event again. Call only
    when the events are extracted."""
    from dlt.common.schema.utils import get_nested_tables

    from pipelines.hubspot.email import EVENTS
    from pipelines.hubspot.source import SOURCE

    schema = pipeline.schemas.get(SOURCE) if SOURCE in pipeline.schemas else None
    if schema is not None and EVENTS in schema.tables:
        chain = [t["name"] for t in get_nested_tables(schema.tables, EVENTS)]
        if full_refresh:
            with pipeline.sql_client() as client:
                client.drop_tables(*reversed(chain))
        schema.drop_tables(chain)
        pipeline.schemas.save_schema(schema)
    if full_refresh:
        return None
    resources = pipeline.state.get("sources", {}).get(SOURCE, {}).get("resources", {})
    return dict(resources.get(EVENTS) or {}) or None


def run_extract(config: HubsegConfig, *, resources: Sequence[str] = RESOURCES,
                full_refresh: bool = False, progress: ProgressFn | None = None,
                on_step: PhaseFn | None = None) -> ExtractReport:
    """Extract and load; raises HubSpotApiError/ConfigError for the caller to report.

    The steps of `dlt.Pipeline.run`, spelled out, for two pipelines: restore state from the
    warehouse and finish a previous run's pending packages; start the email events' lane
    (`events_lane.py`: they load in packages of their own while the rest is extracted); then
    extract, normalize and load everything else, and wait for the events' last package.
    """
    from pipelines.events_lane import EVENTS_PIPELINE_NAME, EventsLane, add_counts
    from pipelines.hubspot import RunContext
    from pipelines.hubspot.email import EVENTS
    from pipelines.hubspot.source import hubspot_source, start_run
    from pipelines.warehouse import JSONL, previous_contacts_lookup

    require_token(config)
    started = time.monotonic()
    client = HubSpotClient(config.hubspot)
    ctx = RunContext(client, config.extract)
    if progress is not None:
        ctx.progress = progress
    report = ExtractReport()
    refresh = None
    if full_refresh:
        refresh = "drop_sources" if set(resources) == set(RESOURCES) else "drop_resources"
    others = [r for r in resources if r != EVENTS]
    with_events = EVENTS in resources
    lane: EventsLane | None = None
    try:
        pipeline, file_format = make_pipeline(config)
        events_pipeline = make_pipeline(config, EVENTS_PIPELINE_NAME)[0]
        lanes = [pipeline] + ([events_pipeline] if with_events else [])
        with _step(report, "resume", on_step):
            for each in lanes:
                each.sync_destination()
                report.resumed_packages += _finish_pending(each)
            if with_events:
                ctx.legacy_events_state = _hand_over_events(pipeline, full_refresh)
        ctx.previous_contacts = previous_contacts_lookup(pipeline)
        # A killed run's leftover load files (before the events lane, the main pipeline's).
        for each in (pipeline, events_pipeline):
            shutil.rmtree(Path(each.working_dir) / IMPORT_SCRATCH, ignore_errors=True)
        if file_format == JSONL:  # the typed JSON-lines loader takes files written by us too
            ctx.scratch_dir = Path(events_pipeline.working_dir) / IMPORT_SCRATCH
        load_lock = threading.Lock()
        with _step(report, "extract", on_step):
            start_run(ctx, resources)
            report.window_end_ms = ctx.window_end_ms
            if with_events:
                lane = EventsLane(ctx, events_pipeline, file_format, refresh, load_lock)
                lane.start()
            if others:
                pipeline.extract(hubspot_source(ctx, others), refresh=refresh,  # type: ignore[arg-type]
                                 loader_file_format=file_format)  # type: ignore[arg-type]
        with _step(report, "normalize", on_step), load_lock:
            info = pipeline.normalize() if others else None
        with _step(report, "load", on_step), load_lock:
            if others:
                pipeline.load()
        with _step(report, "events", on_step):  # what the events' lane still had to do
            if lane is not None:
                lane.join()
        counts = dict(info.row_counts) if info is not None else {}
        add_counts(counts, lane.row_counts if lane else {})
        add_counts(counts, ctx.imported_rows)  # dlt counts imported files as empty
        report.rows = {t: n for t, n in sorted(counts.items()) if not t.startswith("_dlt")}
    except DailyLimitReached as exc:  # at the run's first requests: nothing new to load
        ctx.note_stop(exc)
    except BaseException:
        if lane is not None:
            lane.stop()  # its packages so far are committed; the next run resumes after them
        raise
    finally:
        client.close()
        report.calls = dict(client.stats.calls)
        report.retries = dict(client.stats.retries)
        report.duration_s = time.monotonic() - started
    report.stopped_by = ctx.stopped_by
    return report


def root_cause(exc: BaseException) -> BaseException:
    """The HubSpot or config error inside dlt's wrapping exceptions, else `exc` itself."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, (HubSpotApiError, ConfigError)):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return exc


def exit_code(exc: BaseException) -> int:
    cause = root_cause(exc)
    if isinstance(cause, ConfigError):
        return EXIT_CONFIG
    if isinstance(cause, (AuthError, MissingScopesError)):
        return EXIT_AUTH
    if isinstance(cause, DailyLimitReached):
        return EXIT_DAILY_LIMIT
    return EXIT_FAILED


# -- presenting -------------------------------------------------------------------------------

class LiveProgress:
    """What the run is doing (step) and the records per table so far, on a rich display."""

    def __init__(self, bar: Progress) -> None:
        self._bar = bar
        self._lock = threading.Lock()  # resources report from several threads
        self._step = bar.add_task("step", detail="starting")
        self._tables: dict[str, tuple[TaskID, int]] = {}

    def step(self, name: str) -> None:
        self._bar.update(self._step, detail=name)

    def rows(self, table: str, count: int) -> None:
        with self._lock:
            task, seen = self._tables.get(table) or (self._bar.add_task(table, detail=""), 0)
            self._tables[table] = (task, seen + count)
        self._bar.update(task, detail=f"{seen + count:,} rows")


@contextmanager
def live_progress(console: Console, enabled: bool) -> Iterator[LiveProgress | None]:
    """A live display for interactive runs; nothing for `--quiet` and non-terminals."""
    if not enabled:
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description:<34}"),
                  TextColumn("{task.fields[detail]:>16}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        yield LiveProgress(bar)


def print_summary(console: Console, report: ExtractReport) -> None:
    tables = Table(title="rows loaded", show_edge=False)
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for table, rows in report.rows.items():
        tables.add_row(table, f"{rows:,}")
    calls = Table(title="HubSpot API calls", show_edge=False)
    calls.add_column("resource")
    calls.add_column("calls", justify="right")
    calls.add_column("retries", justify="right")
    for resource in sorted(set(report.calls) | set(report.retries)):
        calls.add_row(resource, f"{report.calls.get(resource, 0):,}",
                      f"{report.retries.get(resource, 0):,}")
    console.print(tables)
    console.print(calls)
    if report.resumed_packages:
        console.print(f"first loaded {report.resumed_packages} package(s) an interrupted run "
                      "left behind")
    console.print("steps: " + ", ".join(f"{name} {seconds:.1f} s"
                                        for name, seconds in report.steps_s.items()))
    console.print(one_line(report))


def one_line(report: ExtractReport) -> str:
    state = "stopped at the daily limit" if report.stopped_by else "ok"
    return (f"extract {state}: {sum(report.rows.values()):,} rows, {report.total_calls:,} API "
            f"calls, {report.total_retries:,} retries, {report.duration_s:.1f} s")


def parse_resources(raw: str | None) -> list[str]:
    if not raw:
        return list(RESOURCES)
    chosen = [r.strip() for r in raw.split(",") if r.strip()]
    unknown = [r for r in chosen if r not in RESOURCES]
    if unknown or not chosen:
        raise ConfigError(f"unknown resource(s) {', '.join(unknown) or '(none given)'}; choose "
                          f"from {', '.join(RESOURCES)}")
    return chosen


# -- the command ------------------------------------------------------------------------------

def extract_command(
    full_refresh: Annotated[bool, typer.Option(
        "--full-refresh", help="Drop the loaded tables and incremental state, reload all.")]
    = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress and no tables: one summary line (for schedulers).")]
    = False,
    resources: Annotated[str | None, typer.Option(
        help=f"Comma-separated subset of: {', '.join(RESOURCES)}.")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="HubSpot API base URL (overrides HUBSPOT_BASE_URL).")] = None,
    tier: Annotated[str | None, typer.Option(
        help="Rate-limit tier: starter, pro, enterprise, custom or unlimited (sandbox).")]
    = None,
    destination: Annotated[str | None, typer.Option(
        help="dlt destination (default duckdb; e.g. postgres with its dlt credentials).")]
    = None,
) -> None:
    """Load HubSpot into the warehouse: everything the first time, then only what changed.

    Exit codes: 0 done; 2 usage or configuration error; 3 HubSpot's daily API limit reached
    (what was fetched is loaded, the next run resumes); 4 token refused or scope missing;
    5 other failure (what was committed is consistent: safe to run again).
    """
    # soft_wrap: messages stay one line each in logs (rich would wrap at 80 columns).
    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    try:
        config = load_config(base_url=base_url, tier=tier, destination=destination)
        chosen = parse_resources(resources)
        with live_progress(err, enabled=not quiet and err.is_terminal) as live:
            report = run_extract(config, resources=chosen, full_refresh=full_refresh,
                                 progress=live.rows if live else None,
                                 on_step=live.step if live else None)
    except Exception as exc:  # every failure becomes a message and a documented exit code
        cause = root_cause(exc)
        err.print(f"[bold red]hubseg extract failed:[/] {escape(Redactor()(str(cause)))}",
                  highlight=False)
        raise typer.Exit(exit_code(exc)) from None
    if quiet:
        out.print(one_line(report), highlight=False)
    else:
        print_summary(out, report)
    if report.stopped_by is not None:
        err.print(f"[bold yellow]{escape(str(report.stopped_by))}[/]", highlight=False)
        raise typer.Exit(EXIT_DAILY_LIMIT)
