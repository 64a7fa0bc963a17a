"""CRM records in the store: property definitions, reading, rendering, validating and writing.

Shared by the objects, search and associations routes. Records live in `objects` with hot
columns (`id`, `created_ms`, `updated_ms`, `archived`, `email_key`) next to a JSON object of
property values; `hs_object_id`, `createdate` and the last-modified property are always served
from the hot columns, so the columns are the single source of truth for those three.

Also here: the request-shape helpers every CRM route shares (cursor paging, `limit`, batch
`inputs`), so each route module stays about its own resource.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.server import errors, writelog
from sandbox.server.errors import HubSpotError
from sandbox.server.http import Ctx
from sandbox.store import (
    LAST_MODIFIED,
    OBJECT_TYPES,
    dumps,
    get_meta,
    iso_ms,
    loads,
    portal_now_ms,
)

DEFAULT_PROPERTIES: dict[str, list[str]] = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate",
                 "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage",
              "hs_lastmodifieddate", "hs_object_id", "pipeline"],
}
SINGULAR_UPPER: dict[str, str] = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL"}
# History entries written by this API carry the source HubSpot gives private-app writes.
API_SOURCE_TYPE = "INTEGRATION"


def system_properties(object_type: str) -> tuple[str, str, str]:
    """Served from hot columns, always included, never writable."""
    return ("createdate", "hs_object_id", LAST_MODIFIED[object_type])


# -- request-shape helpers --------------------------------------------------------------------
def encode_cursor(*parts: int) -> str:
    """An opaque `after` cursor, base64 like HubSpot's (`NTI2` is "526")."""
    return base64.b64encode("-".join(str(p) for p in parts).encode()).decode()


def decode_cursor(raw: str, size: int) -> tuple[int, ...]:
    """The integers inside a cursor from `encode_cursor`; anything else is a 400."""
    try:
        parts = tuple(int(p) for p in base64.b64decode(raw, validate=True).decode().split("-"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = ()
    if len(parts) != size:
        raise errors.validation(f"Invalid value for paging cursor 'after': {raw}",
                                context={"after": [raw]})
    return parts


def after_param(ctx: Ctx, size: int) -> tuple[int, ...] | None:
    raw = ctx.qstr("after")
    return decode_cursor(raw, size) if raw else None


def limit_param(ctx: Ctx, default: int, maximum: int) -> int:
    """`limit` in 1..maximum (HubSpot answers 400 outside it rather than clamping)."""
    limit = ctx.qint("limit", default)
    assert limit is not None
    if limit < 1:
        raise errors.validation("limit must be > 0", context={"limit": [str(limit)]})
    if limit > maximum:
        raise errors.validation(f"limit must be <= {maximum}", context={"limit": [str(limit)]})
    return limit


def next_page(ctx: Ctx, cursor: str) -> dict[str, Any]:
    """`paging` for a next page: the cursor and an absolute link on this very host and path
    (dlt's verified source follows `link` verbatim), keeping every other query parameter."""
    link = str(ctx.request.url.include_query_params(after=cursor))
    return {"next": {"after": cursor, "link": link}}


def batch_inputs(body: Mapping[str, Any], maximum: int,
                 message_suffix: str = "") -> list[dict[str, Any]]:
    """The `inputs` list of a batch body, each an object; over `maximum` is HubSpot's 400."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise errors.validation("Invalid input JSON: 'inputs' must be a list of objects")
    if len(inputs) > maximum:
        raise errors.validation(
            f"The maximum number of inputs supported in a batch request{message_suffix} is "
            f"{maximum}. Please reduce the number of items and try again")
    return inputs


def batch_body(con: sqlite3.Connection, results: list[dict[str, Any]], started_ms: int,
               failures: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """HubSpot's BatchResponse envelope (plus `numErrors`/`errors` for a 207), stamped with
    the portal clock like every other timestamp the portal serves."""
    body: dict[str, Any] = {"status": "COMPLETE", "results": results,
                            "startedAt": iso_ms(started_ms),
                            "completedAt": iso_ms(portal_now_ms(con)), "links": {}}
    if failures:
        body.update(numErrors=len(failures), errors=failures)
    return body


def standard_error(category: str, message: str, context: dict[str, list[str]]
                   ) -> dict[str, Any]:
    """A `StandardError` entry of a 207 body (all six required members present)."""
    return {"status": "error", "category": category, "message": message, "context": context,
            "errors": [], "links": {}}


def missing_objects_message(object_type: str) -> str:
    return (f"Could not get some {SINGULAR_UPPER[object_type]} objects, they may be deleted or "
            "not exist. Check that ids are valid.")


# -- property definitions -----------------------------------------------------------------------
@dataclass(frozen=True)
class PropertyDef:
    """The parts of a Property definition that reading, searching and writing need."""

    name: str
    type: str
    field_type: str
    options: frozenset[str]
    external_options: bool
    read_only: bool
    unique: bool

    @property
    def multi(self) -> bool:
        """Multi-checkbox: the value is a `;`-joined set."""
        return self.type == "enumeration" and self.field_type == "checkbox"

    @property
    def numeric(self) -> bool:
        return self.type == "number"

    @property
    def temporal(self) -> bool:
        return self.type in ("date", "datetime")


class _PropertyCache:
    """Parsed definitions per (store file, object type), reloaded after any property write.

    Parsing a thousand definitions costs ~20 ms, more than serving a list page, so reads reuse
    them. Only this server writes definitions while it serves (the generator replaces the whole
    store), and `properties.py` calls `invalidate()` after each committed change. A reader
    notes the generation before loading, so a load racing a write is simply redone next time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._entries: dict[tuple[str, str], tuple[int, dict[str, PropertyDef]]] = {}

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1

    def get(self, con: sqlite3.Connection, object_type: str) -> dict[str, PropertyDef]:
        key = (con.execute("pragma database_list").fetchone()[2], object_type)
        generation = self._generation
        cached = self._entries.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        defs = _load_property_defs(con, object_type)
        self._entries[key] = (generation, defs)
        return defs


PROPERTY_CACHE = _PropertyCache()


def property_defs(con: sqlite3.Connection, object_type: str) -> dict[str, PropertyDef]:
    """Live (non-archived) properties of a type; system properties are always present."""
    return PROPERTY_CACHE.get(con, object_type)


def _load_property_defs(con: sqlite3.Connection, object_type: str) -> dict[str, PropertyDef]:
    rows = con.execute(
        "select name, json_extract(definition, '$.type'), json_extract(definition, '$.fieldType'),"
        " json_extract(definition, '$.options'), json_extract(definition, '$.externalOptions'),"
        " json_extract(definition, '$.modificationMetadata.readOnlyValue'),"
        " json_extract(definition, '$.hasUniqueValue') "
        "from properties where object_type = ? and archived = 0", (object_type,)).fetchall()
    defs: dict[str, PropertyDef] = {}
    for name, ptype, field_type, options, external, read_only, unique in rows:
        values = frozenset(str(o.get("value")) for o in json.loads(options or "[]"))
        defs[name] = PropertyDef(name, ptype or "string", field_type or "text", values,
                                 bool(external), bool(read_only), bool(unique))
    created, object_id, modified = system_properties(object_type)
    for name, ptype in ((created, "datetime"), (object_id, "number"), (modified, "datetime")):
        base = defs.get(name) or PropertyDef(name, ptype, "text", frozenset(), False, True, False)
        defs[name] = replace(base, type=ptype, read_only=True)
    return defs


# -- records ------------------------------------------------------------------------------------
@dataclass
class Record:
    id: int
    created_ms: int
    updated_ms: int
    archived: bool
    archived_ms: int | None
    props: dict[str, Any] = field(default_factory=dict)


COLUMNS = "id, created_ms, updated_ms, archived, archived_ms, props"


def to_record(row: tuple[Any, ...]) -> Record:
    return Record(row[0], row[1], row[2], bool(row[3]), row[4], loads(row[5]))


def _id_list(props: Mapping[str, Any]) -> list[str]:
    """The ids in a record's `hs_merged_object_ids` (`;`-joined)."""
    return [i for i in (as_text(props.get("hs_merged_object_ids")) or "").split(";") if i]


def parse_id(raw: str) -> int | None:
    """A record id as HubSpot accepts it (digits, no sign), else None."""
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def fetch_by_ids(con: sqlite3.Connection, object_type: str, ids: Iterable[int],
                 archived: bool) -> dict[int, Record]:
    """Records by id, following merged-away ids to their survivor (keyed by the asked id)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    merged = dict(con.execute(
        f"select old_id, new_id from merged_ids where object_type = ? and old_id in ({marks})",
        (object_type, *wanted)).fetchall())
    targets = list(dict.fromkeys(merged.get(i, i) for i in wanted))
    marks = ",".join("?" * len(targets))
    rows = con.execute(
        f"select {COLUMNS} from objects where object_type = ? and archived = ? "
        f"and id in ({marks})", (object_type, int(archived), *targets)).fetchall()
    found = {r.id: r for r in map(to_record, rows)}
    return {i: found[merged.get(i, i)] for i in wanted if merged.get(i, i) in found}


def unique_property(defs: Mapping[str, PropertyDef], object_type: str, name: str) -> str:
    """Validate an `idProperty`: contacts' `email` or a property with unique values."""
    if (object_type == "contacts" and name == "email") or (
            name in defs and defs[name].unique and name != "hs_object_id"):
        return name
    raise errors.validation(
        f"Unable to perform update/upsert by non-unique {OBJECT_TYPES[object_type]} property "
        f"{name}")


def fetch_by_unique(con: sqlite3.Connection, object_type: str, name: str,
                    values: Iterable[str], archived: bool = False) -> dict[str, Record]:
    """Records by a unique property; keys are the values as asked. Email matches
    case-insensitively on the indexed `email_key`; other unique properties scan (rare)."""
    out: dict[str, Record] = {}
    for value in dict.fromkeys(values):
        if object_type == "contacts" and name == "email":
            row = con.execute(
                f"select {COLUMNS} from objects indexed by objects_email "
                "where object_type = ? and email_key = ? and archived = ? order by id limit 1",
                (object_type, value.strip().lower(), int(archived))).fetchone()
        else:
            row = con.execute(
                f"select {COLUMNS} from objects where object_type = ? and archived = ? "
                "and json_extract(props, ?) = ? order by id limit 1",
                (object_type, int(archived), json_path(name), value)).fetchone()
        if row is not None:
            out[value] = to_record(row)
    return out


def json_path(name: str) -> str:
    """The JSON path of a property inside `props` (quoted: names may hold any character)."""
    return '$."' + name.replace('"', '\\"') + '"'


# -- rendering ----------------------------------------------------------------------------------
def as_text(value: Any) -> str | None:
    """Property values are served as strings (or null), whatever JSON type was stored."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def select_properties(object_type: str, requested: list[str],
                      known: Mapping[str, PropertyDef]) -> list[str]:
    """The default set, or the requested known names plus the three system properties."""
    if not requested:
        return DEFAULT_PROPERTIES[object_type]
    names = [n for n in dict.fromkeys(requested) if n in known]
    return names + [n for n in system_properties(object_type) if n not in names]


def property_values(object_type: str, rec: Record, names: Iterable[str]) -> dict[str, Any]:
    created, object_id, modified = system_properties(object_type)
    system = {created: iso_ms(rec.created_ms), object_id: str(rec.id),
              modified: iso_ms(rec.updated_ms)}
    return {n: system[n] if n in system else as_text(rec.props.get(n)) for n in names}


def history(con: sqlite3.Connection, object_type: str, records: list[Record],
            names: list[str]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """`propertiesWithHistory` per record, newest first. A value with no stored history gets
    one synthetic entry stamped at creation (every API write records history)."""
    if not records or not names:
        return {}
    ids = [r.id for r in records]
    rows = con.execute(
        f"select object_id, name, value, timestamp_ms, source_type from history "
        f"where object_type = ? and object_id in ({','.join('?' * len(ids))}) "
        f"and name in ({','.join('?' * len(names))}) "
        "order by object_id, name, timestamp_ms desc, rowid desc",
        (object_type, *ids, *names)).fetchall()
    out: dict[int, dict[str, list[dict[str, Any]]]] = {r.id: {n: [] for n in names}
                                                        for r in records}
    for object_id, name, value, ts, source in rows:
        out[object_id][name].append({"value": as_text(value) or "", "timestamp": iso_ms(ts),
                                     "sourceType": source})
    for rec in records:
        current = property_values(object_type, rec, names)
        for name, entries in out[rec.id].items():
            if not entries and current[name] is not None:
                entries.append({"value": current[name], "timestamp": iso_ms(rec.created_ms),
                                "sourceType": "CRM_UI"})
    return out


def render(object_type: str, rec: Record, names: Iterable[str],
           with_history: dict[str, list[dict[str, Any]]] | None = None,
           associations: dict[str, Any] | None = None) -> dict[str, Any]:
    """HubSpot's SimplePublicObject(WithAssociations) JSON for one record."""
    out: dict[str, Any] = {
        "id": str(rec.id),
        "properties": property_values(object_type, rec, names),
        "createdAt": iso_ms(rec.created_ms),
        "updatedAt": iso_ms(rec.updated_ms),
        "archived": rec.archived,
    }
    if rec.archived:
        out["archivedAt"] = iso_ms(rec.archived_ms or rec.updated_ms)
    if with_history is not None:
        out["propertiesWithHistory"] = with_history
    if associations is not None:
        out["associations"] = associations
    return out


# -- validating writes --------------------------------------------------------------------------
def _problem(name: str, error: str, message: str, portal_id: int | None) -> dict[str, Any]:
    return {"isValid": False, "message": message, "error": error, "name": name,
            "localizedErrorMessage": message, "portalId": portal_id}


def _coerce(defn: PropertyDef, raw: Any) -> str | None:
    """A client's value as stored: text, `""`/null clears, epoch ms becomes ISO for dates."""
    text = as_text(raw)
    if text is None or text == "":
        return None
    if defn.temporal and text.isdigit():
        iso = iso_ms(int(text))
        assert iso is not None
        return iso[:10] if defn.type == "date" else iso
    if defn.type == "bool":
        return text.lower()
    if defn.multi:
        return ";".join(part for part in text.split(";") if part) or None
    return text


def _check(defn: PropertyDef | None, name: str, value: str | None, portal_id: int | None
           ) -> dict[str, Any] | None:
    if defn is None:
        return _problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist',
                        portal_id)
    if defn.read_only:
        return _problem(name, "READ_ONLY_VALUE",
                        f'"{name}" is a read only property; its value cannot be set.', portal_id)
    if value is None or defn.type != "enumeration" or defn.external_options:
        return None
    parts = value.split(";") if defn.multi else [value]
    for part in parts:
        if part not in defn.options:
            allowed = ", ".join(sorted(defn.options))
            return _problem(name, "INVALID_OPTION",
                            f"{part} was not one of the allowed options: [{allowed}]", portal_id)
    return None


def validate_values(con: sqlite3.Connection, defs: Mapping[str, PropertyDef],
                    inputs: list[Any]) -> list[dict[str, str | None]]:
    """Coerce every input's `properties`; any problem in any input is one whole-request 400
    listing them all (HubSpot validates the batch before writing anything)."""
    portal = get_meta(con, "portal_id")
    portal_id = int(portal) if portal and portal.isdigit() else None
    coerced: list[dict[str, str | None]] = []
    problems: list[dict[str, Any]] = []
    for raw in inputs:
        if not isinstance(raw, dict):
            raise errors.validation("Invalid input JSON: 'properties' must be an object")
        values: dict[str, str | None] = {}
        for name, value in raw.items():
            defn = defs.get(name)
            values[name] = _coerce(defn, value) if defn else as_text(value)
            problem = _check(defn, name, values[name], portal_id)
            if problem is not None and problem not in problems:
                problems.append(problem)
        coerced.append(values)
    if problems:
        raise errors.property_values_invalid(problems)
    return coerced


# -- writing ------------------------------------------------------------------------------------
@dataclass
class Writer:
    """Applies creates, updates and archives inside one open write transaction, keeping the hot
    columns, `history` and the write log in step with the property values."""

    con: sqlite3.Connection
    object_type: str
    method: str
    route: str
    request_id: str
    now_ms: int = 0

    def __post_init__(self) -> None:
        self.now_ms = portal_now_ms(self.con)

    def _ensure_email_free(self, email: str | None, own_id: int | None) -> None:
        if self.object_type != "contacts" or email is None:
            return
        row = self.con.execute(
            "select id from objects indexed by objects_email where object_type = 'contacts' "
            "and email_key = ? and archived = 0 and id != ?",
            (email.strip().lower(), own_id or 0)).fetchone()
        if row is not None:
            raise HubSpotError(409, f"Contact already exists. Existing ID: {row[0]}", "CONFLICT")

    def _next_id(self) -> int:
        row = self.con.execute(
            "select max(m) from (select max(id) as m from objects where object_type = ? "
            "union all select max(old_id) from merged_ids where object_type = ?)",
            (self.object_type, self.object_type)).fetchone()
        return int(row[0] or 0) + 1

    def _log(self, rec: Record, changes: Mapping[str, tuple[str | None, str | None]]) -> None:
        self.con.executemany(
            "insert into history (object_type, object_id, name, value, timestamp_ms, "
            "source_type) values (?, ?, ?, ?, ?, ?)",
            [(self.object_type, rec.id, name, new, self.now_ms, API_SOURCE_TYPE)
             for name, (_old, new) in changes.items()])
        writelog.record_changes(self.con, method=self.method, route=self.route,
                                object_type=self.object_type, object_id=str(rec.id),
                                changes=changes, request_id=self.request_id)

    def _system_props(self, rec: Record) -> None:
        created, object_id, modified = system_properties(self.object_type)
        rec.props.update({created: iso_ms(rec.created_ms), object_id: str(rec.id),
                          modified: iso_ms(rec.updated_ms)})

    def create(self, values: Mapping[str, str | None]) -> Record:
        self._ensure_email_free(values.get("email"), None)
        written = {k: v for k, v in values.items() if v is not None}
        rec = Record(self._next_id(), self.now_ms, self.now_ms, False, None, dict(written))
        self._system_props(rec)
        self.con.execute(
            "insert into objects (object_type, id, created_ms, updated_ms, archived, email_key, "
            "props) values (?, ?, ?, ?, 0, ?, ?)",
            (self.object_type, rec.id, rec.created_ms, rec.updated_ms, self._email_key(rec),
             dumps(rec.props)))
        self._log(rec, {k: (None, v) for k, v in written.items()})
        return rec

    def update(self, rec: Record, values: Mapping[str, str | None]) -> Record:
        """Write the values that differ; an unchanged record keeps its timestamps."""
        changes = {k: (as_text(rec.props.get(k)), v) for k, v in values.items()
                   if as_text(rec.props.get(k)) != v}
        if not changes:
            return rec
        if "email" in changes:
            self._ensure_email_free(values["email"], rec.id)
        for name, (_old, new) in changes.items():
            if new is None:
                rec.props.pop(name, None)
            else:
                rec.props[name] = new
        rec.updated_ms = max(self.now_ms, rec.updated_ms)
        self._system_props(rec)
        self.con.execute(
            "update objects set updated_ms = ?, email_key = ?, props = ? "
            "where object_type = ? and id = ?",
            (rec.updated_ms, self._email_key(rec), dumps(rec.props), self.object_type, rec.id))
        self._log(rec, changes)
        return rec

    def archive(self, rec: Record) -> None:
        rec.archived, rec.archived_ms = True, self.now_ms
        rec.updated_ms = max(self.now_ms, rec.updated_ms)
        self._system_props(rec)
        self.con.execute(
            "update objects set archived = 1, archived_ms = ?, updated_ms = ?, props = ? "
            "where object_type = ? and id = ?",
            (rec.archived_ms, rec.updated_ms, dumps(rec.props), self.object_type, rec.id))
        writelog.record(self.con, method=self.method, route=self.route,
                        object_type=self.object_type, object_id=str(rec.id), property=None,
                        old=None, new=None, request_id=self.request_id)

    def merge(self, primary: Record, other: Record) -> Record:
        """Merge `other` into `primary` (POST …/merge; the associations move apart, in
        associations.merge_into): the primary keeps its id and its values, takes the other's
        values only where it has none [inferred: HubSpot's per-property rules are richer], and
        lists every merged id in `hs_merged_object_ids`; the other record is gone, and its id
        reads as the primary's. A contact keeps its own address: HubSpot keeps the other's as a
        secondary address, which the sandbox does not model."""
        merged_ids = {*_id_list(primary.props), *_id_list(other.props), str(other.id)}
        system = {*system_properties(self.object_type), "hs_merged_object_ids", "email"}
        values = {k: as_text(v) for k, v in other.props.items()
                  if k not in system and as_text(primary.props.get(k)) in (None, "")}
        values["hs_merged_object_ids"] = ";".join(sorted(merged_ids, key=int))
        self.con.execute("delete from objects where object_type = ? and id = ?",
                         (self.object_type, other.id))
        self.con.execute("update merged_ids set new_id = ? where object_type = ? and new_id = ?",
                         (primary.id, self.object_type, other.id))
        self.con.execute("insert into merged_ids (object_type, old_id, new_id) values (?, ?, ?)",
                         (self.object_type, other.id, primary.id))
        rec = self.update(primary, values)
        writelog.record(self.con, method=self.method, route=self.route,
                        object_type=self.object_type, object_id=str(other.id), property=None,
                        old=None, new=str(primary.id), request_id=self.request_id)
        return rec

    def _email_key(self, rec: Record) -> str | None:
        email = rec.props.get("email") if self.object_type == "contacts" else None
        return email.strip().lower() if isinstance(email, str) and email.strip() else None
