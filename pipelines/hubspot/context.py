"""What the resources of one extract run share: the client, the window end, caches, progress.

Resources run in parallel threads (dlt `parallelized=True`), so everything mutable here is
guarded by a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hubseg.api import DailyLimitReached, HubSpotClient
from hubseg.config import ExtractSettings

ProgressFn = Callable[[str, int], None]
# (deals | companies, their ids) → contacts the warehouse currently associates with them
PreviousContactsFn = Callable[[str, list[str]], list[str]]


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass
class RunContext:
    client: HubSpotClient
    settings: ExtractSettings
    progress: ProgressFn = lambda table, rows: None
    previous_contacts: PreviousContactsFn = lambda to_type, ids: []
    window_end_ms: int | None = None
    deal_pipelines: list[dict[str, Any]] | None = None  # prefetched (source.py)
    stopped_by: DailyLimitReached | None = None
    # Where resources write load files dlt imports as they are (loadfiles.py); None: rows only.
    scratch_dir: Path | None = None
    imported_rows: dict[str, int] = field(default_factory=dict)  # table → rows in such files
    # The events state an older warehouse kept in the main pipeline (extract._hand_over_events).
    legacy_events_state: dict[str, Any] | None = None
    _properties: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _claimed_contacts: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- the run's window end ---------------------------------------------------------------------
    def fix_window_end(self) -> int:
        """End of this run's incremental windows: HubSpot's clock minus the index-lag margin.

        Taken from the `Date` header of the run's first answer, so it never depends on this
        machine's clock, and every resource of the run shares it: windows tile exactly.
        """
        server_time = self.client.first_server_time
        if server_time is None:
            raise RuntimeError("fix_window_end needs one answer from HubSpot first")
        self.window_end_ms = to_ms(server_time) - int(self.settings.index_lag_seconds * 1000)
        return self.window_end_ms

    @property
    def end_ms(self) -> int:
        if self.window_end_ms is None:
            raise RuntimeError("the run's window end is not fixed yet")
        return self.window_end_ms

    # -- property definitions (fetched once per object type, shared by every resource) -------------
    def property_definitions(self, object_type: str) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._properties.get(object_type)
        if cached is not None:
            return cached
        body = self.client.get(self.client.paths.properties(object_type),
                               {"archived": "false"}, resource="properties")
        definitions = list(body.get("results") or [])
        with self._lock:
            self._properties.setdefault(object_type, definitions)
            return self._properties[object_type]

    def property_names(self, object_type: str) -> list[str]:
        """The configured property list, else every property the portal defines."""
        configured = self.settings.properties.get(object_type)
        if configured:
            return list(configured)
        return [d["name"] for d in self.property_definitions(object_type)]

    # -- association snapshots: each contact at most once per run -----------------------------
    def claim_contacts(self, contact_ids: Iterable[str]) -> list[str]:
        """The ids not yet claimed by another resource in this run (now claimed by the caller)."""
        with self._lock:
            fresh = [c for c in dict.fromkeys(contact_ids) if c not in self._claimed_contacts]
            self._claimed_contacts.update(fresh)
        return fresh

    def count_imported(self, table: str, rows: int) -> None:
        with self._lock:
            self.imported_rows[table] = self.imported_rows.get(table, 0) + rows

    # -- stopping ---------------------------------------------------------------------------------
    def note_stop(self, exc: DailyLimitReached) -> None:
        with self._lock:
            self.stopped_by = self.stopped_by or exc
