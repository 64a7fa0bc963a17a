"""Properties v3 and property groups (hubspot-api.md §5), classic and date-versioned paths.

Definitions are stored as HubSpot's `Property` / `PropertyGroup` JSON, so reads serve them
as stored. Deleting archives (the row stays, `archived` true). Creating a name whose only
definition is archived replaces that definition. A duplicate live name is a 409 with the
[inferred] body `Property named 'x' already exists.` / category OBJECT_ALREADY_EXISTS.
`type`/`fieldType` pairs are checked on create and on PATCH (after merging), and PATCH
`options` replace the whole list.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.portal.schema import VALID_FIELD_TYPES
from sandbox.server import errors
from sandbox.server.errors import HubSpotError
from sandbox.server.http import DBV_VERSION, Ctx, hubspot_route, json_response, object_type
from sandbox.server.objects_repo import PROPERTY_CACHE
from sandbox.store import dumps, iso_ms, loads, portal_now_ms

BOOL_OPTIONS = [{"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "No", "value": "false", "displayOrder": 1, "hidden": False}]
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
MAX_OPTIONS = 5_000
# PropertyUpdate members copied onto the definition as sent.
UPDATABLE = ("label", "type", "fieldType", "groupName", "description", "displayOrder", "hidden",
             "formField", "calculationFormula", "currencyPropertyName", "numberDisplayHint",
             "textDisplayHint", "showCurrencySymbol")
OPTIONAL_ON_CREATE = ("calculationFormula", "currencyPropertyName", "referencedObjectType",
                      "numberDisplayHint", "textDisplayHint", "showCurrencySymbol")


# -- shared pieces ------------------------------------------------------------------------------
def _object_type(ctx: Ctx, *, write: bool = False) -> str:
    name = object_type(ctx.path["object_type"])
    if write:
        ctx.require_scope(f"crm.schemas.{name}.write")
    else:
        ctx.require_scope(f"crm.schemas.{name}.read", f"crm.objects.{name}.read",
                          f"crm.schemas.{name}.write")
    return name


def _conflict(what: str, name: str) -> HubSpotError:
    return HubSpotError(409, f"{what} named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")


def _missing(what: str, name: str) -> HubSpotError:
    return errors.resource_not_found(f"{what} {name} does not exist")


def _required(body: dict[str, Any], names: tuple[str, ...]) -> None:
    absent = [n for n in names if body.get(n) in (None, "")]
    if absent:
        raise errors.validation(f"Missing required fields: {', '.join(absent)}",
                                context={n: ["required"] for n in absent})


class Table:
    """One of the two definition tables (`properties`, `property_groups`)."""

    def __init__(self, table: str, what: str) -> None:
        self.table, self.what = table, what

    def get(self, con: sqlite3.Connection, object_type: str, name: str
            ) -> tuple[dict[str, Any], bool] | None:
        row = con.execute(f"select definition, archived from {self.table} "
                          "where object_type = ? and name = ?", (object_type, name)).fetchone()
        return (loads(row[0]), bool(row[1])) if row else None

    def live(self, con: sqlite3.Connection, object_type: str, name: str) -> dict[str, Any]:
        found = self.get(con, object_type, name)
        if found is None or found[1]:
            raise _missing(self.what, name)
        return found[0]

    def all(self, con: sqlite3.Connection, object_type: str, archived: bool
            ) -> list[dict[str, Any]]:
        rows = con.execute(f"select definition from {self.table} where object_type = ? "
                           "and archived = ? order by name", (object_type, int(archived)))
        return [loads(r[0]) for r in rows]

    def put(self, con: sqlite3.Connection, object_type: str, definition: dict[str, Any]
            ) -> None:
        con.execute(
            f"insert into {self.table} (object_type, name, definition, archived) "
            "values (?, ?, ?, ?) on conflict (object_type, name) do update set "
            "definition = excluded.definition, archived = excluded.archived",
            (object_type, definition["name"], dumps(definition),
             int(bool(definition.get("archived")))))


PROPERTIES = Table("properties", "Property")
GROUPS = Table("property_groups", "Property group")


@contextmanager
def _property_write(ctx: Ctx) -> Iterator[sqlite3.Connection]:
    """A write transaction on property definitions; the parsed-definition cache the record
    routes use is dropped once it ends (committed or not)."""
    try:
        with ctx.state.store.write() as con:
            yield con
    finally:
        PROPERTY_CACHE.invalidate()


# -- validation ---------------------------------------------------------------------------------
def _options(raw: Any) -> list[dict[str, Any]]:
    """OptionInput list → Option list; each needs label, value and hidden."""
    if not isinstance(raw, list):
        raise errors.validation("Invalid input JSON: 'options' must be a list")
    if len(raw) > MAX_OPTIONS:
        raise errors.validation(f"A property may have at most {MAX_OPTIONS} options")
    options: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise errors.validation("Invalid input JSON: each option must be an object")
        _required(item, ("label", "value"))
        if not isinstance(item.get("hidden"), bool):
            raise errors.validation("Missing required fields: hidden",
                                    context={"hidden": ["required"]})
        option = {"label": str(item["label"]), "value": str(item["value"]),
                  "displayOrder": int(item.get("displayOrder", i)), "hidden": item["hidden"]}
        if item.get("description") is not None:
            option["description"] = str(item["description"])
        options.append(option)
    values = [o["value"] for o in options]
    if len(set(values)) != len(values):
        raise errors.validation("Option values must be unique")
    return options


def _check_types(definition: dict[str, Any]) -> None:
    ptype, field_type = definition.get("type"), definition.get("fieldType")
    if ptype not in VALID_FIELD_TYPES:
        raise errors.validation(f"Invalid property type: {ptype}",
                                context={"type": [str(ptype)]})
    if field_type not in VALID_FIELD_TYPES[ptype]:
        raise errors.validation(
            f"Property type {ptype} is not compatible with field type {field_type}; valid "
            f"field types: {', '.join(sorted(VALID_FIELD_TYPES[ptype]))}",
            context={"fieldType": [str(field_type)]})
    if ptype == "enumeration" and not definition.get("options") and not definition.get(
            "externalOptions"):
        raise errors.validation("Options are required for enumeration properties")


def _check_group(con: sqlite3.Connection, object_type: str, group: str) -> None:
    found = GROUPS.get(con, object_type, group)
    if found is None or found[1]:
        raise errors.validation(f"Property group {group} does not exist",
                                context={"groupName": [group]})


# -- properties -----------------------------------------------------------------------------------
def list_properties(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx)
    results = PROPERTIES.all(ctx.con(), name, ctx.qbool("archived"))
    wanted = set(ctx.qlist("properties"))
    return {"results": [p for p in results if not wanted or p["name"] in wanted]}


def get_property(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx)
    found = PROPERTIES.get(ctx.con(), name, ctx.path["property_name"])
    if found is None or found[1] != ctx.qbool("archived"):
        raise _missing("Property", ctx.path["property_name"])
    return found[0]


def _new_property(body: dict[str, Any], now: str | None) -> dict[str, Any]:
    """A full `Property` from a `PropertyCreate` (every required response member present)."""
    ptype = body["type"]
    options = _options(body.get("options") or [])
    if ptype == "bool" and not options:
        options = [dict(o) for o in BOOL_OPTIONS]
    definition: dict[str, Any] = {
        "name": body["name"], "label": body["label"], "type": ptype,
        "fieldType": body["fieldType"], "groupName": body["groupName"],
        "description": body.get("description") or "", "options": options,
        "displayOrder": int(body.get("displayOrder", -1)),
        "calculated": body["fieldType"] == "calculation_equation",
        "externalOptions": bool(body.get("externalOptions", False)),
        "hasUniqueValue": bool(body.get("hasUniqueValue", False)),
        "hidden": bool(body.get("hidden", False)), "hubspotDefined": False,
        "formField": bool(body.get("formField", False)),
        "modificationMetadata": {"archivable": True, "readOnlyDefinition": False,
                                 "readOnlyValue": False},
        "dataSensitivity": body.get("dataSensitivity") or "non_sensitive",
        "createdAt": now, "updatedAt": now, "archived": False,
    }
    definition.update({k: body[k] for k in OPTIONAL_ON_CREATE if body.get(k) is not None})
    return definition


def create_property(ctx: Ctx) -> Response:
    name = _object_type(ctx, write=True)
    body = ctx.body_dict()
    _required(body, ("name", "label", "type", "fieldType", "groupName"))
    if not NAME_PATTERN.fullmatch(str(body["name"])):
        raise errors.validation(
            f"Invalid property name {body['name']!r}: use lowercase letters, digits and "
            "underscores, starting with a letter", context={"name": [str(body["name"])]})
    with _property_write(ctx) as con:
        existing = PROPERTIES.get(con, name, body["name"])
        if existing is not None and not existing[1]:
            raise _conflict("Property", body["name"])
        definition = _new_property(body, iso_ms(portal_now_ms(con)))
        _check_types(definition)
        _check_group(con, name, definition["groupName"])
        PROPERTIES.put(con, name, definition)
    location = f"{ctx.base_url}/crm/v3/properties/{name}/{definition['name']}"
    return json_response(definition, 201, headers={"Location": location})


def update_property(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx, write=True)
    body = ctx.body_dict()
    with _property_write(ctx) as con:
        definition = PROPERTIES.live(con, name, ctx.path["property_name"])
        definition.update({k: body[k] for k in UPDATABLE if k in body})
        if "options" in body:  # "Provided fields will be overwritten": the list is replaced
            definition["options"] = _options(body["options"] or [])
        _check_types(definition)
        if "groupName" in body:
            _check_group(con, name, definition["groupName"])
        definition["updatedAt"] = iso_ms(portal_now_ms(con))
        PROPERTIES.put(con, name, definition)
    return definition


def archive_property(ctx: Ctx) -> Response:
    name = _object_type(ctx, write=True)
    with _property_write(ctx) as con:
        definition = PROPERTIES.live(con, name, ctx.path["property_name"])
        if not definition.get("modificationMetadata", {}).get("archivable", True):
            raise errors.validation(f"Property {definition['name']} is a HubSpot-defined "
                                    "property and cannot be archived")
        now = iso_ms(portal_now_ms(con))
        definition.update(archived=True, archivedAt=now, updatedAt=now)
        PROPERTIES.put(con, name, definition)
    return Response(status_code=204)


# -- groups -------------------------------------------------------------------------------------
def list_groups(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx)
    return {"results": GROUPS.all(ctx.con(), name, ctx.qbool("archived"))}


def get_group(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx)
    return GROUPS.live(ctx.con(), name, ctx.path["group_name"])


def create_group(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx, write=True)
    body = ctx.body_dict()
    _required(body, ("name", "label"))
    group = {"name": str(body["name"]), "label": str(body["label"]),
             "displayOrder": int(body.get("displayOrder", -1)), "archived": False}
    with ctx.state.store.write() as con:
        existing = GROUPS.get(con, name, group["name"])
        if existing is not None and not existing[1]:
            raise _conflict("Property group", group["name"])
        GROUPS.put(con, name, group)
    return group


def update_group(ctx: Ctx) -> dict[str, Any]:
    name = _object_type(ctx, write=True)
    body = ctx.body_dict()
    with ctx.state.store.write() as con:
        group = GROUPS.live(con, name, ctx.path["group_name"])
        group.update({k: body[k] for k in ("label", "displayOrder") if k in body})
        GROUPS.put(con, name, group)
    return group


def archive_group(ctx: Ctx) -> Response:
    name = _object_type(ctx, write=True)
    with ctx.state.store.write() as con:
        group = GROUPS.live(con, name, ctx.path["group_name"])
        group["archived"] = True
        GROUPS.put(con, name, group)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    prefixes = ("/crm/v3/properties/{object_type}",
                f"/crm/properties/{DBV_VERSION}/{{object_type}}")

    def route(suffix: str, handler: Callable[[Ctx], Any], method: str, status: int = 200
              ) -> list[BaseRoute]:
        return list(hubspot_route([p + suffix for p in prefixes], handler, methods=[method],
                                  status=status))

    # Groups first: `/groups` must not be taken for a property named "groups".
    return [
        *route("/groups", list_groups, "GET"),
        *route("/groups", create_group, "POST", 201),
        *route("/groups/{group_name}", get_group, "GET"),
        *route("/groups/{group_name}", update_group, "PATCH"),
        *route("/groups/{group_name}", archive_group, "DELETE"),
        *route("", list_properties, "GET"),
        *route("", create_property, "POST", 201),
        *route("/{property_name}", get_property, "GET"),
        *route("/{property_name}", update_property, "PATCH"),
        *route("/{property_name}", archive_property, "DELETE"),
    ]
