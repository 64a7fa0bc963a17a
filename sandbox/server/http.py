"""The request pipeline every HubSpot route shares, and HubSpot's query-parameter rules.

A HubSpot route is a plain synchronous function `handler(ctx) -> dict | Response`. The wrapper
made by `hubspot_route` does, in order: authentication (401), the rate limiter (429), fault
injection, reading and parsing the JSON body (400 on malformed JSON), running the handler in a
worker thread, and turning any `HubSpotError` into HubSpot's error body. Nothing a client sends
can reach the client as a stack trace.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.server import errors
from sandbox.server.errors import HubSpotError
from sandbox.store import OBJECT_TYPES, TYPE_IDS

log = logging.getLogger("hubseg.sandbox")

# The date-versioned (DBV) prefixes that alias the classic paths (hubspot-api.md §1.1).
# Starlette path parameters take a named convertor, not an inline regex (an inline regex is
# silently kept as literal text), hence the registered `dbv` convertor.
class _DbvVersionConvertor(Convertor[str]):
    regex = r"\d{4}-\d{2}(?:-beta)?"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("dbv", _DbvVersionConvertor())
DBV_VERSION = "{version:dbv}"


@dataclass
class Ctx:
    """What a handler sees: parsed parameters, the body, the token, and the server state."""

    request: Request
    state: Any  # sandbox.server.app.ServerState
    path: dict[str, str]
    query: list[tuple[str, str]]
    body: Any
    token: str
    scopes: frozenset[str]
    route: str
    base_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    # -- query parameters ---------------------------------------------------------------------
    def qlist(self, name: str) -> list[str]:
        """A list parameter in either form: `a=x,y` or `a=x&a=y` (both are sent by clients)."""
        out: list[str] = []
        for key, value in self.query:
            if key == name:
                out.extend(v.strip() for v in value.split(",") if v.strip())
        return out

    def qstr(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return default

    def qint(self, name: str, default: int | None = None) -> int | None:
        raw = self.qstr(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise errors.validation(
                f"Unable to parse value for query parameter: {name}",
                context={name: [raw]},
            ) from None

    def qbool(self, name: str, default: bool = False) -> bool:
        """Booleans case-insensitively: the SDK sends Python's `False`."""
        raw = self.qstr(name)
        if raw is None or raw == "":
            return default
        low = raw.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise errors.validation(f"Unable to parse value for query parameter: {name}",
                                context={name: [raw]})

    # -- helpers ------------------------------------------------------------------------------
    def require_scope(self, *any_of: str) -> None:
        """403 MISSING_SCOPES unless the token holds at least one of `any_of`."""
        if not self.scopes.intersection(any_of):
            raise errors.missing_scopes(list(any_of),
                                        detail=self.state.settings.missing_scopes_detail)

    def con(self) -> sqlite3.Connection:
        return self.state.store.con()

    def body_dict(self) -> dict[str, Any]:
        if not isinstance(self.body, dict):
            raise errors.validation("Invalid input JSON: expected an object body")
        return self.body


def object_type(raw: str) -> str:
    """`contacts` | `0-1` → `contacts`; anything else is HubSpot's unknown-object 400."""
    name = TYPE_IDS.get(raw, raw.lower())
    if name not in OBJECT_TYPES:
        raise HubSpotError(400, f"Unable to infer object type from: {raw}", "VALIDATION_ERROR")
    return name


def decode_path_id(raw: str) -> str:
    """SDKs percent-encode ids (`a%40b.c`); Starlette already decodes once, decode leftovers."""
    return unquote(raw)


Handler = Callable[[Ctx], Any]


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    return Response(json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                    status_code=status, media_type="application/json;charset=utf-8",
                    headers=headers)


def hubspot_route(paths: Iterable[str], handler: Handler, *, methods: list[str],
                  status: int = 200) -> list[Route]:
    """Routes for one HubSpot operation at each of `paths` (classic and DBV forms)."""

    async def endpoint(request: Request) -> Response:
        state = request.app.state.sandbox
        template = request.scope["route"].path
        try:
            _check_url_length(request, state.settings.limits.max_url_chars)
            token, scopes = state.authenticate(request)
            limited = state.limiter.check(token, template, request.url.path)
            if limited is not None:
                return limited
            fault = await state.faults.apply(template)
            if fault is not None:
                return fault
            body = await _read_json(request)
            ctx = Ctx(
                request=request, state=state, path=dict(request.path_params),
                query=list(request.query_params.multi_items()), body=body, token=token,
                scopes=scopes, route=template, base_url=str(request.base_url).rstrip("/"),
            )
            result = await run_in_threadpool(handler, ctx)
            response = (result if isinstance(result, Response)
                        else json_response(result, status))
        except HubSpotError as exc:
            response = exc.response()
        except Exception:  # a sandbox bug: log it, answer like HubSpot's 500, keep serving
            log.exception("unhandled error on %s %s", request.method, template)
            response = errors.internal_error()
        state.limiter.decorate(response, template, request.url.path, request)
        return response

    return [Route(p, endpoint, methods=methods) for p in paths]


def _check_url_length(request: Request, max_chars: int) -> None:
    """HubSpot's front end refuses request lines over ~8 KB with 414 (the dlt source's bug)."""
    raw = request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b"")
    if len(raw) > max_chars:
        raise HubSpotError(414, f"URI Too Long: the request URI has {len(raw)} characters; "
                           f"the limit is {max_chars}", "VALIDATION_ERROR")


async def _read_json(request: Request) -> Any:
    if request.method in ("GET", "DELETE", "HEAD"):
        return None
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HubSpotError(
            400, "Invalid input JSON on line 1, column 1: Unexpected character",
            "VALIDATION_ERROR",
        ) from None
