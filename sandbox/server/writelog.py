"""The write log: one row per record property a client actually changed.

Tests of the reverse-ETL sync ask the sandbox "what did the client write?" rather than diffing
the portal, so every CRM write appends here inside the same transaction as the change itself
(a rolled-back request leaves no trace). Unchanged values are not logged: a sync that re-sends
the same segment must show zero writes. Archiving a record is logged as one row with
`property = NULL`.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from typing import Any

from sandbox.store import portal_now_ms

REQUEST_ID_HEADER = "x-request-id"


def request_id(ctx: Any) -> str:
    """The client's `X-Request-Id` if sent, else one uuid per request (cached on the ctx)."""
    rid = ctx.extra.get("request_id")
    if rid is None:
        rid = ctx.request.headers.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
        ctx.extra["request_id"] = rid
    return rid


_INSERT = ("insert into write_log (at_ms, request_id, method, route, object_type, object_id, "
           "property, old_value, new_value) values (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def record(con: sqlite3.Connection, *, method: str, route: str, object_type: str | None,
           object_id: str | None, property: str | None, old: str | None, new: str | None,
           request_id: str | None) -> None:
    """Append one entry, stamped with the portal clock."""
    con.execute(
        _INSERT,
        (portal_now_ms(con), request_id, method, route, object_type, object_id, property, old,
         new),
    )


def record_changes(con: sqlite3.Connection, *, method: str, route: str, object_type: str,
                   object_id: str, changes: Mapping[str, tuple[str | None, str | None]],
                   request_id: str | None) -> None:
    """One entry per changed property; `changes` maps name → (old, new)."""
    now = portal_now_ms(con)  # one clock read and one statement per record, not per property
    con.executemany(
        _INSERT,
        [(now, request_id, method, route, object_type, object_id, name, old, new)
         for name, (old, new) in changes.items()])

