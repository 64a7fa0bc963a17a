"""CRM objects v3 (hubspot-api.md §3): list, get, create, update, archive, merge, search and
batch.

Served for contacts, companies and deals, by name or type id (`0-1`, `0-2`, `0-3`), at the
classic `/crm/v3/objects/{type}` paths and the date-versioned `/crm/objects/{YYYY-MM}/{type}`
aliases, from the same handlers.

Writes validate every input before touching anything and run in one transaction, so a failed
request changes nothing. Batch inputs that name a missing record are answered per
`settings.partial_failure_mode`: a 207 with per-input errors (the other inputs are applied), or
one 400 for the whole batch (nothing is applied). A duplicate email on create is a 409 for the
whole request (HubSpot reports only the first conflict of a batch). When every input carries an
`objectWriteTraceId` (HubSpot's opt-in to multi-status), both become per-input 207 errors.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.server import associations, errors, search, writelog
from sandbox.server import objects_repo as repo
from sandbox.server.errors import HubSpotError
from sandbox.server.http import (
    DBV_VERSION,
    Ctx,
    decode_path_id,
    hubspot_route,
    json_response,
    object_type,
)
from sandbox.server.objects_repo import PropertyDef, Record, Writer
from sandbox.store import portal_now_ms

PREFIXES = ("/crm/v3/objects/{object_type}", f"/crm/objects/{DBV_VERSION}/{{object_type}}")


# -- shared pieces ------------------------------------------------------------------------------
def _object_type(ctx: Ctx, *, write: bool = False) -> str:
    name = object_type(ctx.path["object_type"])
    ctx.require_scope(f"crm.objects.{name}.{'write' if write else 'read'}")
    return name


@dataclass
class View:
    """What to put in each rendered record."""

    names: list[str]
    history: list[str] | None = None
    associations: list[str] | None = None


def _view(object_type: str, defs: dict[str, PropertyDef], properties: list[str],
          history: list[str] | None = None, assoc: list[str] | None = None) -> View:
    return View(
        repo.select_properties(object_type, properties, defs),
        [n for n in dict.fromkeys(history) if n in defs] if history else None,
        associations.association_types_param(assoc) if assoc else None,
    )


def _render_all(ctx: Ctx, con: sqlite3.Connection, object_type: str, records: list[Record],
                view: View) -> list[dict[str, Any]]:
    """Render a page of records with one history query and one association query per type."""
    hist = (repo.history(con, object_type, records, view.history)
            if view.history is not None else None)
    assoc = (associations.inline(con, ctx, object_type, [r.id for r in records],
                                 view.associations) if view.associations else None)
    return [repo.render(object_type, r, view.names,
                        hist.get(r.id, {}) if hist is not None else None,
                        assoc.get(r.id) if assoc is not None else None) for r in records]


def _find(con: sqlite3.Connection, object_type: str, defs: dict[str, PropertyDef], raw: str,
          id_property: str | None, archived: bool = False) -> Record | None:
    """One record by id (following merges) or by a unique `idProperty` value."""
    if id_property and id_property != "hs_object_id":
        name = repo.unique_property(defs, object_type, id_property)
        return repo.fetch_by_unique(con, object_type, name, [raw], archived).get(raw)
    record_id = repo.parse_id(raw)
    if record_id is None:
        return None
    return repo.fetch_by_ids(con, object_type, [record_id], archived).get(record_id)


def _find_many(con: sqlite3.Connection, object_type: str, defs: dict[str, PropertyDef],
               inputs: list[dict[str, Any]]) -> list[Record | None]:
    """`_find` of each input, those named by record id in one query (a record named twice,
    by an old merged id and by its survivor's, is one shared object, as re-reading it is)."""
    raws = [str(i.get("id", "")) for i in inputs]
    by_id = [i.get("idProperty") in (None, "", "hs_object_id") for i in inputs]
    ids = [repo.parse_id(raw) if plain else None for raw, plain in zip(raws, by_id, strict=True)]
    found: dict[int | None, Record] = dict(
        repo.fetch_by_ids(con, object_type, [i for i in ids if i is not None], False))
    return [found.get(record_id) if plain
            else _find(con, object_type, defs, raw, item.get("idProperty"))
            for item, raw, plain, record_id in zip(inputs, raws, by_id, ids, strict=True)]


def _writer(ctx: Ctx, con: sqlite3.Connection, object_type: str) -> Writer:
    return Writer(con, object_type, ctx.request.method, ctx.route, writelog.request_id(ctx))


def _properties_of(item: Any) -> Any:
    properties = item.get("properties") if isinstance(item, dict) else None
    if properties is None:
        raise errors.validation("Invalid input JSON: 'properties' is required")
    return properties


def _render_written(ctx: Ctx, con: sqlite3.Connection, object_type: str, rec: Record,
                    defs: dict[str, PropertyDef], values: dict[str, Any]) -> dict[str, Any]:
    """A write answers with the properties written plus the system ones."""
    return _render_all(ctx, con, object_type, [rec], _view(object_type, defs, list(values)))[0]


def _distinct(records: Iterable[Record]) -> list[Record]:
    """Once each, though several inputs (an old merged id and its survivor) name it."""
    return list({r.id: r for r in records}.values())


def _traced(inputs: list[dict[str, Any]]) -> bool:
    """Every input carries an `objectWriteTraceId`: HubSpot's documented opt-in to 207s."""
    return bool(inputs) and all(i.get("objectWriteTraceId") for i in inputs)


def _multi_status(ctx: Ctx, inputs: list[dict[str, Any]]) -> bool:
    """Per-input errors (207) instead of one error for the whole batch."""
    return ctx.state.settings.partial_failure_mode == "207" or _traced(inputs)


def _missing(ctx: Ctx, object_type: str, inputs: list[dict[str, Any]], ids: list[str]
             ) -> list[dict[str, Any]]:
    """Errors for batch inputs naming no record, or the whole-batch 400 without multi-status."""
    if not ids:
        return []
    settings = ctx.state.settings
    message = settings.missing_objects_message or repo.missing_objects_message(object_type)
    context = {"ids": ids} if settings.missing_objects_ids else None
    if not _multi_status(ctx, inputs):
        raise HubSpotError(400, message, "VALIDATION_ERROR", context=context)
    return [repo.standard_error("OBJECT_NOT_FOUND", message, context or {})]


def _names(body: dict[str, Any], key: str) -> list[str]:
    """A body member holding property names: a list of strings, absent or null."""
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.validation(f"Invalid input JSON: '{key}' must be a list of strings")
    return value


def _batch_response(body: dict[str, Any], success: int = 200) -> Any:
    return json_response(body, 207) if body.get("errors") else json_response(body, success)


def _reject_duplicates(keys: list[str]) -> None:
    """HubSpot rejects a batch naming one record twice, as a whole (not retryable)."""
    dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
    if dupes:
        raise errors.validation(f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. "
                                "IDs in a batch must be unique", context={"ids": dupes})


# -- reads --------------------------------------------------------------------------------------
def list_objects(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx)
    con = ctx.con()
    defs = repo.property_defs(con, name)
    history = ctx.qlist("propertiesWithHistory")
    view = _view(name, defs, ctx.qlist("properties"), history, ctx.qlist("associations"))
    limits = ctx.state.settings.limits
    limit = repo.limit_param(ctx, limits.list_default,
                             limits.list_max_with_history if history else limits.list_max)
    after = repo.after_param(ctx, 1)
    rows = con.execute(
        f"select {repo.COLUMNS} from objects where object_type = ? and archived = ? "
        "and id >= ? order by id limit ?",
        (name, int(ctx.qbool("archived")), after[0] if after else 0, limit + 1)).fetchall()
    records = [repo.to_record(r) for r in rows]
    body: dict[str, Any] = {"results": _render_all(ctx, con, name, records[:limit], view)}
    if len(records) > limit:
        body["paging"] = repo.next_page(ctx, repo.encode_cursor(records[limit].id))
    return body


def get_object(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx)
    con = ctx.con()
    defs = repo.property_defs(con, name)
    raw = decode_path_id(ctx.path["object_id"])
    rec = _find(con, name, defs, raw, ctx.qstr("idProperty"), ctx.qbool("archived"))
    if rec is None:
        raise errors.not_found(raw)
    view = _view(name, defs, ctx.qlist("properties"), ctx.qlist("propertiesWithHistory"),
                 ctx.qlist("associations"))
    return _render_all(ctx, con, name, [rec], view)[0]


def search_objects(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx)
    body = ctx.body_dict()
    con = ctx.con()
    defs = repo.property_defs(con, name)
    view = _view(name, defs, _names(body, "properties"))
    page = search.run(con, name, body, defs, ctx.state.settings, portal_now_ms(con))
    out: dict[str, Any] = {"total": page.total,
                           "results": _render_all(ctx, con, name, page.records, view)}
    if page.next_after is not None:
        out["paging"] = {"next": {"after": page.next_after}}
    return out


def batch_read(ctx: Ctx) -> Any:
    name = _object_type(ctx)
    body = ctx.body_dict()
    started = portal_now_ms(ctx.con())
    limits = ctx.state.settings.limits
    history = _names(body, "propertiesWithHistory")
    inputs = (repo.batch_inputs(body, limits.batch_max_with_history, " for property histories")
              if history else repo.batch_inputs(body, limits.batch_max))
    con = ctx.con()
    defs = repo.property_defs(con, name)
    raw_ids = list(dict.fromkeys(str(i.get("id", "")) for i in inputs))
    found = _read_many(con, name, defs, raw_ids, body.get("idProperty"), ctx.qbool("archived"))
    view = _view(name, defs, _names(body, "properties"), history)
    records = _distinct(found.values())
    failures = []
    missing = [i for i in raw_ids if i not in found]
    if missing:  # reads always answer 207: nothing is half-applied
        failures = [repo.standard_error("OBJECT_NOT_FOUND",
                                        repo.missing_objects_message(name), {"ids": missing})]
    results = _render_all(ctx, con, name, records, view)
    return _batch_response(repo.batch_body(ctx.con(), results, started, failures))


def _read_many(con: sqlite3.Connection, object_type: str, defs: dict[str, PropertyDef],
               raw_ids: list[str], id_property: Any, archived: bool = False
               ) -> dict[str, Record]:
    """Records keyed by the raw id text each input gave."""
    if id_property and id_property != "hs_object_id":
        prop = repo.unique_property(defs, object_type, str(id_property))
        return repo.fetch_by_unique(con, object_type, prop, raw_ids, archived)
    numeric = {raw: repo.parse_id(raw) for raw in raw_ids}
    by_id = repo.fetch_by_ids(con, object_type, [i for i in numeric.values() if i is not None],
                              archived)
    return {raw: by_id[i] for raw, i in numeric.items() if i is not None and i in by_id}


# -- single-record writes -----------------------------------------------------------------------
def create_object(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx, write=True)
    body = ctx.body_dict()
    with ctx.state.store.write() as con:
        defs = repo.property_defs(con, name)
        values = repo.validate_values(con, defs, [_properties_of(body)])[0]
        rec = _create(con, ctx, name, values, body.get("associations"))
        return _render_written(ctx, con, name, rec, defs, values)


def _create(con: sqlite3.Connection, ctx: Ctx, object_type: str, values: dict[str, Any],
            links: Any) -> Record:
    """Create one record and its associations (`[{to:{id}, types:[{…TypeId}]}]`)."""
    rec = _writer(ctx, con, object_type).create(values)
    for link in links or []:
        try:
            to_id = int(link["to"]["id"])
            kinds = [(t.get("associationCategory", "HUBSPOT_DEFINED"),
                      int(t["associationTypeId"])) for t in link["types"]]
        except (KeyError, TypeError, ValueError):
            raise errors.validation(
                "Invalid association input: expected {to: {id}, types: [{associationCategory, "
                "associationTypeId}]}") from None
        for category, type_id in kinds:
            associations.link(con, object_type, rec.id, to_id, type_id, category)
    return rec


def update_object(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx, write=True)
    raw = decode_path_id(ctx.path["object_id"])
    body = ctx.body_dict()
    with ctx.state.store.write() as con:
        defs = repo.property_defs(con, name)
        values = repo.validate_values(con, defs, [_properties_of(body)])[0]
        rec = _find(con, name, defs, raw, ctx.qstr("idProperty"))
        if rec is None:
            raise errors.not_found(raw)
        rec = _writer(ctx, con, name).update(rec, values)
        return _render_written(ctx, con, name, rec, defs, values)


def archive_object(ctx: Ctx) -> Response:
    name = _object_type(ctx, write=True)
    raw = decode_path_id(ctx.path["object_id"])
    with ctx.state.store.write() as con:
        rec = _find(con, name, {}, raw, None)
        if rec is not None:  # archiving a missing record is a no-op, as on HubSpot
            _writer(ctx, con, name).archive(rec)
    return Response(status_code=204)


def merge_objects(ctx: Ctx) -> dict[str, Any]:
    """`POST …/merge` `{primaryObjectId, objectIdToMerge}`: the primary survives (200, rendered
    with the default properties and `hs_merged_object_ids`)."""
    name = _object_type(ctx, write=True)
    body = ctx.body_dict()
    raws = [str(body.get(key) or "") for key in ("primaryObjectId", "objectIdToMerge")]
    primary_id, other_id = (repo.parse_id(raw) for raw in raws)
    if primary_id is None or other_id is None or primary_id == other_id:
        raise errors.validation("Invalid input JSON: primaryObjectId and objectIdToMerge must be "
                                "two different record ids", context={"id": raws})
    with ctx.state.store.write() as con:
        defs = repo.property_defs(con, name)
        found = repo.fetch_by_ids(con, name, [primary_id, other_id], False)
        primary, other = found.get(primary_id), found.get(other_id)
        if primary is None:
            raise errors.not_found(raws[0])
        if other is None:
            raise errors.not_found(raws[1])
        if primary.id == other.id:  # one was merged into the other already
            raise errors.validation(f"{raws[1]} is already merged into {primary.id}",
                                    context={"id": raws})
        associations.merge_into(con, name, other.id, primary.id)
        rec = _writer(ctx, con, name).merge(primary, other)
        view = _view(name, defs, [*repo.DEFAULT_PROPERTIES[name], "hs_merged_object_ids"])
        return _render_all(ctx, con, name, [rec], view)[0]


# -- batch writes -------------------------------------------------------------------------------
def batch_create(ctx: Ctx) -> Any:
    name = _object_type(ctx, write=True)
    started = portal_now_ms(ctx.con())
    inputs = repo.batch_inputs(ctx.body_dict(), ctx.state.settings.limits.batch_max)
    # A conflict (an email already taken) fails the whole batch with HubSpot's 409 naming the
    # first one, unless every input opted into multi-status with an objectWriteTraceId.
    per_input = _traced(inputs)
    with ctx.state.store.write() as con:
        defs = repo.property_defs(con, name)
        all_values = repo.validate_values(con, defs, [_properties_of(i) for i in inputs])
        results, failures = [], []
        for item, values in zip(inputs, all_values, strict=True):
            try:
                rec = _create(con, ctx, name, values, item.get("associations"))
            except HubSpotError as exc:
                if exc.status != 409 or not per_input:
                    raise
                failures.append(repo.standard_error(
                    "CONFLICT", exc.message,
                    {"objectWriteTraceId": [str(item["objectWriteTraceId"])]}))
                continue
            results.append(_render_written(ctx, con, name, rec, defs, values))
    return _batch_response(repo.batch_body(ctx.con(), results, started, failures), 201)


def batch_update(ctx: Ctx) -> Any:
    name = _object_type(ctx, write=True)
    started = portal_now_ms(ctx.con())
    inputs = repo.batch_inputs(ctx.body_dict(), ctx.state.settings.limits.batch_max)
    _reject_duplicates([str(i.get("id", "")) for i in inputs])
    with ctx.state.store.write() as con:
        defs = repo.property_defs(con, name)
        all_values = repo.validate_values(con, defs, [_properties_of(i) for i in inputs])
        targets = _find_many(con, name, defs, inputs)
        failures = _missing(ctx, name, inputs, [str(i.get("id", "")) for i, rec in
                                        zip(inputs, targets, strict=True) if rec is None])
        writer = _writer(ctx, con, name)
        results = []
        for rec, values in zip(targets, all_values, strict=True):
            if rec is not None:
                rec = writer.update(rec, values)
                results.append(_render_written(ctx, con, name, rec, defs, values))
    return _batch_response(repo.batch_body(ctx.con(), results, started, failures))


def batch_upsert(ctx: Ctx) -> Any:
    """Update the record the (`idProperty`, `id`) pair names, or create it with that value."""
    name = _object_type(ctx, write=True)
    started = portal_now_ms(ctx.con())
    inputs = repo.batch_inputs(ctx.body_dict(), ctx.state.settings.limits.batch_max)
    _reject_duplicates([str(i.get("id", "")).lower() for i in inputs])
    with ctx.state.store.write() as con:
        defs = repo.property_defs(con, name)
        all_values = repo.validate_values(con, defs, [_properties_of(i) for i in inputs])
        plans = [_upsert_target(con, name, defs, i) for i in inputs]
        failures = _missing(ctx, name, inputs, [str(i.get("id", "")) for i, (rec, prop) in
                                        zip(inputs, plans, strict=True)
                                        if rec is None and prop is None])
        writer = _writer(ctx, con, name)
        results = []
        for item, (rec, prop), values in zip(inputs, plans, all_values, strict=True):
            if rec is None and prop is None:
                continue
            created = rec is None
            if rec is None:
                rec = writer.create({**values, str(prop): str(item["id"])})
            else:
                rec = writer.update(rec, values)
            results.append({**_render_written(ctx, con, name, rec, defs, values),
                            "new": created})
    return _batch_response(repo.batch_body(ctx.con(), results, started, failures))


def _upsert_target(con: sqlite3.Connection, object_type: str, defs: dict[str, PropertyDef],
                   item: dict[str, Any]) -> tuple[Record | None, str | None]:
    """(existing record or None, the unique property to create by or None)."""
    raw, id_property = str(item.get("id", "")), item.get("idProperty")
    if not id_property:
        return _find(con, object_type, defs, raw, None), None
    prop = repo.unique_property(defs, object_type, str(id_property))
    return repo.fetch_by_unique(con, object_type, prop, [raw]).get(raw), prop


def batch_archive(ctx: Ctx) -> Response:
    name = _object_type(ctx, write=True)
    inputs = repo.batch_inputs(ctx.body_dict(), ctx.state.settings.limits.batch_max)
    with ctx.state.store.write() as con:
        found = _read_many(con, name, {}, [str(i.get("id", "")) for i in inputs], None)
        writer = _writer(ctx, con, name)
        for rec in _distinct(found.values()):
            writer.archive(rec)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    def paths(suffix: str = "") -> list[str]:
        return [prefix + suffix for prefix in PREFIXES]

    return [
        *hubspot_route(paths(), list_objects, methods=["GET"]),
        *hubspot_route(paths(), create_object, methods=["POST"], status=201),
        *hubspot_route(paths("/search"), search_objects, methods=["POST"]),
        *hubspot_route(paths("/batch/read"), batch_read, methods=["POST"]),
        *hubspot_route(paths("/batch/create"), batch_create, methods=["POST"]),
        *hubspot_route(paths("/batch/update"), batch_update, methods=["POST"]),
        *hubspot_route(paths("/batch/upsert"), batch_upsert, methods=["POST"]),
        *hubspot_route(paths("/batch/archive"), batch_archive, methods=["POST"]),
        *hubspot_route(paths("/merge"), merge_objects, methods=["POST"]),
        *hubspot_route(paths("/{object_id}"), get_object, methods=["GET"]),
        *hubspot_route(paths("/{object_id}"), update_object, methods=["PATCH"]),
        *hubspot_route(paths("/{object_id}"), archive_object, methods=["DELETE"]),
    ]
