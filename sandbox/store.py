"""The sandbox portal's durable store: one SQLite file per portal.

SQLite in WAL mode lets the server and `hubseg sandbox advance` (another process) use the same
portal at once, and every committed write survives a restart. Property values are kept exactly
as HubSpot serves them: a JSON object of strings (or null) per record.

Tables
------
meta(key, value)                 portal_id, seed, preset, anchor_ms, clock_offset_ms, …
tokens(token, name, scopes)      private-app tokens; scopes space-separated
objects(object_type, id, …)      contacts, companies, deals; props is a JSON object of strings
history(object_type, object_id, name, value, timestamp_ms, source_type)
merged_ids(object_type, old_id, new_id)   ids merged away; GET on an old id returns the survivor
associations(from_type, from_id, to_type, to_id, type_id, category, label)   both directions
properties(object_type, name, definition, archived)     definition: HubSpot Property JSON
property_groups(object_type, name, definition, archived)
pipelines(object_type, id, definition)                    definition: Pipeline JSON with stages
email_campaigns(id, …, counters)                          counters: JSON map, kept equal to events
email_events(seq, id, created, type, recipient, …, extra) extra: JSON of type-specific fields
write_log(seq, at_ms, …)                                  one row per property a client changed
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OBJECT_TYPES: dict[str, str] = {"contacts": "0-1", "companies": "0-2", "deals": "0-3"}
TYPE_IDS: dict[str, str] = {v: k for k, v in OBJECT_TYPES.items()}
LAST_MODIFIED: dict[str, str] = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}

SCHEMA = """
create table if not exists meta (key text primary key, value text not null);
create table if not exists tokens (
    token text primary key, name text not null, scopes text not null, created_ms integer not null
);
create table if not exists objects (
    object_type text not null,
    id integer not null,
    created_ms integer not null,
    updated_ms integer not null,
    archived integer not null default 0,
    archived_ms integer,
    email_key text,
    props text not null,
    primary key (object_type, id)
) without rowid;
-- `archived` inside the index lets search count a last-modified window without row lookups
create index if not exists objects_updated on objects (object_type, updated_ms, archived, id);
create index if not exists objects_email on objects (object_type, email_key)
    where email_key is not null;
create table if not exists history (
    object_type text not null,
    object_id integer not null,
    name text not null,
    value text,
    timestamp_ms integer not null,
    source_type text not null default 'CRM_UI'
);
create index if not exists history_object on history (object_type, object_id, name);
create table if not exists associations (
    from_type text not null,
    from_id integer not null,
    to_type text not null,
    to_id integer not null,
    type_id integer not null,
    category text not null default 'HUBSPOT_DEFINED',
    label text,
    primary key (from_type, from_id, to_type, to_id, type_id)
) without rowid;
create table if not exists properties (
    object_type text not null,
    name text not null,
    definition text not null,
    archived integer not null default 0,
    primary key (object_type, name)
) without rowid;
create table if not exists property_groups (
    object_type text not null,
    name text not null,
    definition text not null,
    archived integer not null default 0,
    primary key (object_type, name)
) without rowid;
create table if not exists pipelines (
    object_type text not null,
    id text not null,
    definition text not null,
    primary key (object_type, id)
) without rowid;
create table if not exists email_campaigns (
    id integer primary key,
    app_id integer not null,
    app_name text not null,
    content_id integer not null,
    name text not null,
    subject text not null,
    type text not null,
    sub_type text,
    num_included integer not null default 0,
    num_queued integer not null default 0,
    last_updated_ms integer not null,
    counters text not null default '{}'
);
create table if not exists email_events (
    seq integer primary key,
    id text not null,
    created integer not null,
    type text not null,
    recipient text,
    email_campaign_id integer,
    email_campaign_group_id integer,
    app_id integer,
    app_name text,
    sent_by_id text,
    sent_by_created integer,
    filtered_event integer not null default 0,
    extra text
);
create index if not exists email_events_created on email_events (created, seq);
create index if not exists email_events_campaign on email_events (email_campaign_id, created);
create index if not exists email_events_recipient on email_events (recipient, created);
create table if not exists merged_ids (
    object_type text not null,
    old_id integer not null,
    new_id integer not null,
    primary key (object_type, old_id)
) without rowid;
create table if not exists write_log (
    seq integer primary key autoincrement,
    at_ms integer not null,
    request_id text,
    method text not null,
    route text not null,
    object_type text,
    object_id text,
    property text,
    old_value text,
    new_value text
);
"""


def real_now_ms() -> int:
    return int(time.time() * 1000)


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the store with the pragmas every user of it needs (WAL, busy wait)."""
    uri = f"file:{Path(path)}{'?mode=ro' if readonly else ''}"
    con = sqlite3.connect(uri, uri=True, timeout=60.0, isolation_level=None,
                          check_same_thread=False)
    con.execute("pragma busy_timeout = 60000")
    if not readonly:
        con.execute("pragma journal_mode = wal")
        con.execute("pragma synchronous = normal")
    con.execute("pragma cache_size = -65536")
    return con


def create(path: Path | str) -> sqlite3.Connection:
    """Create an empty store (schema only) at `path`, replacing any file there."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{p}{suffix}").unlink(missing_ok=True)
    con = connect(p)
    con.executescript(SCHEMA)
    return con


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT: take the write lock up front so writers never deadlock."""
    con.execute("begin immediate")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def get_meta(con: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    row = con.execute("select value from meta where key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(con: sqlite3.Connection, key: str, value: object) -> None:
    con.execute(
        "insert into meta (key, value) values (?, ?) "
        "on conflict (key) do update set value = excluded.value",
        (key, str(value)),
    )


def portal_now_ms(con: sqlite3.Connection) -> int:
    """The portal's clock: real time plus the offset `advance` and the admin clock add."""
    return real_now_ms() + int(get_meta(con, "clock_offset_ms", "0") or 0)


def iso_ms(ms: int | None) -> str | None:
    """Epoch milliseconds → HubSpot's v3 timestamp text (`2025-03-15T21:52:35.138Z`)."""
    if ms is None:
        return None
    secs, milli = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{milli:03d}Z"


def loads(text: str | None) -> dict:
    return json.loads(text) if text else {}


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ThreadLocalStore:
    """One SQLite connection per thread, and one process-wide lock for writers."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"no sandbox portal at {self.path}: run `hubseg sandbox generate` first"
            )
        self._local = threading.local()
        self.write_lock = threading.Lock()

    def con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = connect(self.path)
            self._local.con = con
        return con

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; the lock keeps this process's writers in line."""
        with self.write_lock, transaction(self.con()) as con:
            yield con
