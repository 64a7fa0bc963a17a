"""Email event pages fetched in a thread of their own, handed over with the state they commit.

The events are nine rows in ten of a load, fetched one page after another along offset chains.
So that the budget is spent on them while earlier pages are being loaded (`pipelines/extract.py`
loads the events in several packages during one run), an `EventFeed` keeps fetching into a
bounded queue while its consumer is busy. Each page comes with a copy of the resource state as
it stands once that page is loaded (its window's remaining upper bound; `windows.py`), so a
package committed after any page resumes exactly there. The last item has no events and the
state with the run's window completed.

The fetching thread works on a private copy of the state; the consumer writes each page's copy
into dlt's resource state, so only what dlt commits with the data counts.
"""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.hubspot.context import RunContext

# Pages fetched ahead of the consumer, which stops consuming while a package loads: at 19
# requests a second, 64 pages keep the fetching going through a load of over three seconds.
PAGES_AHEAD = 64
_POLL_S = 0.5


@dataclass
class Page:
    events: list[dict[str, Any]]
    state: dict[str, Any]  # the resource state once these events are loaded
    last: bool = False  # the run's events are complete with this state


class EventFeed:
    """One run's event pages, fetched ahead by a daemon thread (see the module docstring)."""

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx
        self._queue: queue.Queue[Page | BaseException] = queue.Queue(maxsize=PAGES_AHEAD)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = False  # the last page, or a failure, has been handed over

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self, state: Mapping[str, Any]) -> None:
        """Start fetching from `state` (the resource state the first package begins with)."""
        from pipelines.hubspot.email import event_pages

        private = copy.deepcopy(dict(state))

        def fetch() -> None:
            try:
                for events in event_pages(self._ctx, private):
                    self._put(Page(events, copy.deepcopy(private)))
                    if self._stopping.is_set():
                        return
                self._put(Page([], copy.deepcopy(private), last=True))
            except BaseException as exc:  # handed to the consumer, raised there
                self._put(exc)

        self._thread = threading.Thread(target=fetch, name="hubseg-email-events", daemon=True)
        self._thread.start()

    def pages(self, max_rows: int) -> Iterator[Page]:
        """Pages until about `max_rows` events or the last page; raises what fetching raised."""
        rows = 0
        while rows < max_rows and not self.finished:
            item = self._get()
            if item is None:  # stopped
                self.finished = True
                return
            if isinstance(item, BaseException):
                self.finished = True
                raise item
            self.finished = item.last
            rows += len(item.events)
            yield item

    def stop(self) -> None:
        """Stop fetching (the run failed elsewhere); pages not yet handed over are dropped."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _put(self, item: Page | BaseException) -> None:
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def _get(self) -> Page | BaseException | None:
        while not self._stopping.is_set():
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                continue
        return None
