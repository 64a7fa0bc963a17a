"""The email events' lane of `hubseg extract`: loaded in packages of their own, during the run.

dlt's extract → normalize → load are sequential steps of one pipeline, so a single pipeline
loads nothing until every page is fetched: under the `pro` rate limit that put the whole load
after the budget-bound fetching (1.4× the rate-limit bound at `demo`). The events, nine rows
in ten, therefore go through a second pipeline (`hubspot_email_events`, same dataset and
tables) in a thread of their own, one package per `EVENT_ROWS_PER_PACKAGE` events: while a
package normalizes and loads, `EventFeed` keeps fetching the next pages, and the main pipeline
keeps extracting everything else. Each package commits its rows with the state that resumes
after them, so a killed run loses at most the package in flight; a resumed window re-reads
one millisecond, which the merge deduplicates.

Loading is serialised between the two lanes (`load_lock`): both write dlt's bookkeeping
tables, and the DuckDB loads use both CPUs anyway.
"""

from __future__ import annotations

import shutil
import threading
from typing import TYPE_CHECKING

from pipelines.hubspot.context import RunContext
from pipelines.hubspot.event_feed import EventFeed

if TYPE_CHECKING:
    import dlt

EVENTS_PIPELINE_NAME = "hubspot_email_events"
# Events per package. Each package merges into the events table (a delete by key, then an
# insert), so fewer, bigger packages cost less in total; smaller ones leave less to load after
# the last page.
EVENT_ROWS_PER_PACKAGE = 200_000


class EventsLane:
    """Extract, normalize and load the run's email events, package after package, in a thread."""

    def __init__(self, ctx: RunContext, pipeline: dlt.Pipeline, file_format: str | None,
                 refresh: str | None, load_lock: threading.Lock) -> None:
        self._ctx = ctx
        self._pipeline = pipeline
        self._file_format = file_format
        self._refresh = refresh
        self._load_lock = load_lock
        self._feed = EventFeed(ctx)
        self._thread = threading.Thread(target=self._run, name="hubseg-events-lane", daemon=True)
        self._error: BaseException | None = None
        self.row_counts: dict[str, int] = {}
        self.packages = 0

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait for the lane; raise what failed it."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Stop after the package in flight (the rest of the run failed)."""
        self._feed.stop()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._feed.finished:
                self._one_package()
        except BaseException as exc:  # re-raised by join(), in the caller's thread
            self._error = exc
            self._feed.stop()

    def _one_package(self) -> None:
        from pipelines.hubspot.source import email_events_source

        refresh, self._refresh = self._refresh, None  # a full refresh drops once, first
        scratch = self._ctx.scratch_dir
        try:
            self._pipeline.extract(email_events_source(self._ctx, self._feed,
                                                       EVENT_ROWS_PER_PACKAGE),
                                   refresh=refresh,  # type: ignore[arg-type]
                                   loader_file_format=self._file_format)  # type: ignore[arg-type]
        finally:  # the package holds hard links to the files: the scratch copies can go
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        with self._load_lock:
            info = self._pipeline.normalize()
            self._pipeline.load()
        self.packages += 1
        add_counts(self.row_counts, dict(info.row_counts) if info is not None else {})


def add_counts(into: dict[str, int], rows_per_table: dict[str, int]) -> None:
    """Add `rows_per_table` into `into` (tables without rows are left out)."""
    for table, rows in rows_per_table.items():
        if rows:
            into[table] = into.get(table, 0) + rows
