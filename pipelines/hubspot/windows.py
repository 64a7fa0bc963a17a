"""Incremental windows kept in dlt resource state, committed atomically with the data.

A resource's state holds `window_end` (where the last completed window ended) and, while a
window is in progress, `pending`: the window `{start, end}` plus whatever progress marker the
resource keeps in it (a paging cursor, the last id seen, a phase name). dlt stores the state in
the same load package as the rows, so:

- a killed run commits neither for the package it was extracting or loading (the email
  events commit several packages per run, each with the state after its last page); the next
  run redoes the rest of the window and merges deduplicate;
- a run stopped by the daily limit commits the rows it has with `pending` pointing just past
  them; the next run resumes that window first, then continues to its own end.

`start` is None for a resource's first window: a full load.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

Window = dict[str, Any]


def windows(state: MutableMapping[str, Any], end_ms: int) -> Iterator[Window]:
    """The windows still to do, oldest first; each is marked complete once the caller resumes.

    The caller processes a window inside the loop body, recording progress in it; leaving the
    body normally completes the window. Leaving by an exception leaves it pending.
    """
    while True:
        window = state.get("pending")
        if window is None:
            last_end = state.get("window_end")
            if last_end is not None and last_end >= end_ms:
                return
            window = {"start": last_end, "end": end_ms}
            state["pending"] = window
        yield window
        state["window_end"] = window["end"]
        del state["pending"]


def is_full(window: Window) -> bool:
    return window["start"] is None
