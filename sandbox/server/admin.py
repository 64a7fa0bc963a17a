"""The test-only `/_sandbox/` surface: health, reset, request counts, write log, clock, config.

These are plain Starlette routes, not `hubspot_route`s: no token, no rate limit, no faults, and
they are not counted in `/_sandbox/requests`. They speak JSON both ways; bad input gets a 400
JSON body in HubSpot's error shape (tests parse error bodies the same way everywhere).

Blocking work (SQLite, `advance`, `stats`) runs in the threadpool so a long `advance` never
stalls HubSpot routes served by the event loop.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import re
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.server.errors import HubSpotError
from sandbox.server.faults import FaultSpecError, rule_from_json, rule_to_json
from sandbox.server.http import json_response
from sandbox.settings import RATE_LIMIT_PRESETS, ApiLimits, SandboxSettings
from sandbox.store import ThreadLocalStore, get_meta, portal_now_ms, real_now_ms, set_meta

if TYPE_CHECKING:  # app.py imports this module while building its routes
    from sandbox.server.app import ServerState

log = logging.getLogger("hubseg.sandbox")

WRITES_DEFAULT_LIMIT = 1_000
WRITES_MAX_LIMIT = 10_000
RESET_PARTS = ("requests", "writes", "limits", "faults")


class AdminInputError(ValueError):
    """A malformed admin request; answered with a 400."""


def _bad(message: str) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR")


AdminHandler = Callable[[Request, "ServerState"], Awaitable[Any]]


def admin_endpoint(handler: AdminHandler) -> Callable[[Request], Awaitable[Response]]:
    """Give `handler(request, state)` the sandbox state and turn every failure into JSON."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request, request.app.state.sandbox)
        except HubSpotError as exc:
            return exc.response()
        except (AdminInputError, FaultSpecError) as exc:
            return _bad(str(exc)).response()
        except Exception:  # a sandbox bug: logged, answered as JSON, never a stack trace
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            return HubSpotError(500, "internal error", None).response()
        return result if isinstance(result, Response) else json_response(result)

    return endpoint


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body is `{}`."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AdminInputError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise AdminInputError("request body must be a JSON object")
    return body


# -- field validators ---------------------------------------------------------------------------

def _int(value: Any, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminInputError(f"{name} must be an integer")
    if minimum is not None and value < minimum:
        raise AdminInputError(f"{name} must be at least {minimum}")
    return value


def _optional_positive_int(value: Any, name: str) -> int | None:
    return None if value is None else _int(value, name, minimum=1)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise AdminInputError(f"{name} must be true or false")
    return value


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise AdminInputError(f"{name} must be a string")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdminInputError(f"{name} must be a number")
    return float(value)


def _choice(options: tuple[str, ...]) -> Callable[[Any, str], str]:
    def check(value: Any, name: str) -> str:
        if value not in options:
            raise AdminInputError(f"{name} must be one of {', '.join(options)}")
        return value

    return check


def _query_int(request: Request, name: str, default: int, *, minimum: int = 0) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise AdminInputError(f"query parameter {name} must be an integer") from None
    return _int(value, name, minimum=minimum)


# -- health, requests, reset --------------------------------------------------------------------

@admin_endpoint
async def health(request: Request, state: ServerState) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        con = state.store.con()
        portal_id = get_meta(con, "portal_id")
        return {"status": "ok",
                "portalId": int(portal_id) if portal_id and portal_id.isdigit() else portal_id,
                "preset": get_meta(con, "preset")}

    return await run_in_threadpool(read)


@admin_endpoint
async def requests_seen(request: Request, state: ServerState) -> dict[str, Any]:
    """Requests to HubSpot routes by method, route template and status."""
    rows = state.counter.snapshot()
    route = request.query_params.get("route")
    if route is not None:
        rows = [r for r in rows if r["route"] == route]
    return {"total": sum(r["count"] for r in rows), "requests": rows}


@admin_endpoint
async def reset(request: Request, state: ServerState) -> dict[str, Any]:
    """Clear the selected parts (all of them when the body names none)."""
    body = await _json_object(request)
    unknown = set(body) - set(RESET_PARTS)
    if unknown:
        raise AdminInputError(f"unknown reset parts {sorted(unknown)}; known: {RESET_PARTS}")
    parts = [p for p in RESET_PARTS if not body or _bool(body.get(p, False), p)]
    if "requests" in parts:
        state.counter.reset()
    if "limits" in parts:
        state.limiter.reset()
    if "faults" in parts:
        state.faults.reset()
    if "writes" in parts:
        await run_in_threadpool(_clear_write_log, state.store)
    return {"reset": parts}


def _clear_write_log(store: ThreadLocalStore) -> None:
    with store.write() as con:
        con.execute("delete from write_log")


# -- write log ------------------------------------------------------------------------------------

_WRITE_COLUMNS = {
    "seq": "seq", "atMs": "at_ms", "requestId": "request_id", "method": "method",
    "route": "route", "objectType": "object_type", "objectId": "object_id",
    "property": "property", "oldValue": "old_value", "newValue": "new_value",
}


@admin_endpoint
async def writes(request: Request, state: ServerState) -> dict[str, Any]:
    """Property changes clients made, oldest first, after sequence number `after`."""
    after = _query_int(request, "after", 0)
    limit = min(_query_int(request, "limit", WRITES_DEFAULT_LIMIT, minimum=1), WRITES_MAX_LIMIT)

    def read() -> list[dict[str, Any]]:
        cursor = state.store.con().execute(
            f"select {', '.join(_WRITE_COLUMNS.values())} from write_log "
            "where seq > ? order by seq limit ?", (after, limit))
        return [dict(zip(_WRITE_COLUMNS, row, strict=True)) for row in cursor]

    rows = await run_in_threadpool(read)
    # `last` is the cursor for the next call: unchanged when nothing new arrived.
    return {"writes": rows, "last": rows[-1]["seq"] if rows else after}


# -- clock, advance, stats ----------------------------------------------------------------------

def _clock(con: sqlite3.Connection) -> dict[str, int]:
    return {"nowMs": portal_now_ms(con),
            "offsetMs": int(get_meta(con, "clock_offset_ms", "0") or 0)}


@admin_endpoint
async def clock(request: Request, state: ServerState) -> dict[str, int]:
    """GET: the portal clock. POST {"advanceMs": N}: move it by N ms (negative goes back)."""
    if request.method == "GET":
        return await run_in_threadpool(lambda: _clock(state.store.con()))
    body = await _json_object(request)
    step = _int(body.get("advanceMs", 0), "advanceMs")

    def move() -> dict[str, int]:
        with state.store.write() as con:
            offset = int(get_meta(con, "clock_offset_ms", "0") or 0)
            set_meta(con, "clock_offset_ms", offset + step)
            return _clock(con)

    return await run_in_threadpool(move)


@admin_endpoint
async def advance(request: Request, state: ServerState) -> Any:
    """Simulate days of portal activity (the same code as `hubseg sandbox advance`)."""
    body = await _json_object(request)
    days = _int(body.get("days", 1), "days", minimum=1)
    change_rate = _number(body.get("changeRate", 0.01), "changeRate")
    if not 0.0 <= change_rate <= 1.0:
        raise AdminInputError("changeRate must be within [0, 1]")
    run_advance = _portal_tool("sandbox.portal.advance", "advance")
    return await run_in_threadpool(run_advance, state.store.path, days=days,
                                   change_rate=change_rate)


@admin_endpoint
async def stats(request: Request, state: ServerState) -> Any:
    portal_stats = _portal_tool("sandbox.portal.stats", "portal_stats")
    return await run_in_threadpool(portal_stats, state.store.path)


def _portal_tool(module: str, name: str) -> Callable[..., Any]:
    """A function of the portal package, imported on first use: the server does not need it
    to start, and a build without it answers 501 instead of failing at import time."""
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise HubSpotError(501, f"{module} is not available in this build", None) from None


# -- tokens ---------------------------------------------------------------------------------------

@admin_endpoint
async def tokens(request: Request, state: ServerState) -> dict[str, Any]:
    """Mint a private-app token with the given scopes (e.g. to provoke 403 MISSING_SCOPES)."""
    body = await _json_object(request)
    name = body.get("name", "test")
    scopes = body.get("scopes", [])
    if not isinstance(name, str) or not name:
        raise AdminInputError("name must be a non-empty string")
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s for s in scopes):
        raise AdminInputError("scopes must be a list of scope names")
    token = f"pat-na1-{uuid.uuid4()}"

    def insert() -> None:
        with state.store.write() as con:
            con.execute("insert into tokens (token, name, scopes, created_ms) values (?,?,?,?)",
                        (token, name, " ".join(scopes), real_now_ms()))

    await run_in_threadpool(insert)
    return {"token": token, "name": name, "scopes": scopes}


# -- runtime configuration ------------------------------------------------------------------------

# JSON name → (SandboxSettings attribute, validator). `None` for the limit numbers falls back to
# the preset's value.
_SETTINGS_FIELDS: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "rateLimit": ("rate_limit", _choice(tuple(RATE_LIMIT_PRESETS))),
    "perTenSeconds": ("per_ten_seconds", _optional_positive_int),
    "perDay": ("per_day", _optional_positive_int),
    "searchPerSecond": ("search_per_second", _optional_positive_int),
    "retryAfterHeader": ("retry_after_header", _bool),
    "partialFailureMode": ("partial_failure_mode", _choice(("207", "400"))),
    "missingObjectsMessage": ("missing_objects_message", _string),
    "missingObjectsIds": ("missing_objects_ids", _bool),
    "missingScopesDetail": ("missing_scopes_detail", _bool),
    "campaignsLastUpdated": ("campaigns_last_updated", _bool),
    "searchIndexLagMs": ("search_index_lag_ms", lambda v, n: _int(v, n, minimum=0)),
    "faultSeed": ("fault_seed", _int),
}
_LIMIT_FIELDS = [f.name for f in dataclasses.fields(ApiLimits)]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def config_to_json(settings: SandboxSettings) -> dict[str, Any]:
    preset = settings.preset()
    out = {key: getattr(settings, attr) for key, (attr, _) in _SETTINGS_FIELDS.items()}
    out["faults"] = [rule_to_json(rule) for rule in settings.faults]
    out["limits"] = {_camel(name): getattr(settings.limits, name) for name in _LIMIT_FIELDS}
    out["effective"] = {"perTenSeconds": preset.per_ten_seconds, "perDay": preset.per_day,
                        "searchPerSecond": preset.search_per_second}
    return out


def _parse_config(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """Validate every change first, so a bad field leaves the running settings untouched."""
    unknown = set(body) - set(_SETTINGS_FIELDS) - {"faults", "limits", "effective"}
    if unknown:
        raise AdminInputError(f"unknown config fields {sorted(unknown)}")
    changes = {attr: check(body[key], key)
               for key, (attr, check) in _SETTINGS_FIELDS.items() if key in body}
    if "faults" in body:
        if not isinstance(body["faults"], list):
            raise AdminInputError("faults must be a list of {route, kinds, slowSeconds}")
        changes["faults"] = [rule_from_json(_object(r, "fault rule")) for r in body["faults"]]
    limits: dict[str, int] = {}
    for key, value in _object(body.get("limits", {}), "limits").items():
        name = _snake(key)
        if name not in _LIMIT_FIELDS:
            raise AdminInputError(f"unknown limit {key!r}")
        limits[name] = _int(value, key, minimum=0)
    return changes, limits


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AdminInputError(f"{what} must be a JSON object")
    return value


@admin_endpoint
async def config(request: Request, state: ServerState) -> dict[str, Any]:
    """GET: the running settings. PUT: change some of them, effective from the next request.

    The limiter, the fault injector and the handlers all hold this very settings object, so it
    is mutated in place. New fault rules or a new seed restart the fault sequences, so the same
    configuration always yields the same faults.
    """
    settings: SandboxSettings = state.settings
    if request.method == "PUT":
        changes, limits = _parse_config(await _json_object(request))
        for attr, value in changes.items():
            setattr(settings, attr, value)
        for name, value in limits.items():
            setattr(settings.limits, name, value)
        if "faults" in changes or "fault_seed" in changes:
            state.faults.reset()
    return config_to_json(settings)


def routes() -> list[BaseRoute]:
    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/requests", requests_seen, methods=["GET"]),
        Route("/_sandbox/writes", writes, methods=["GET"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/advance", advance, methods=["POST"]),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/tokens", tokens, methods=["POST"]),
        Route("/_sandbox/config", config, methods=["GET", "PUT"]),
    ]
