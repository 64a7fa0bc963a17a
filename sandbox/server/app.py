"""The sandbox ASGI application: HubSpot's routes plus the test-only `/_sandbox/` surface."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.portal.schema import builtin_property_rows
from sandbox.server import errors
from sandbox.server.faults import FaultInjector
from sandbox.server.limits import RateLimiter, RequestCounter
from sandbox.settings import SandboxSettings
from sandbox.store import ThreadLocalStore, portal_now_ms


@dataclass
class ServerState:
    store: ThreadLocalStore
    settings: SandboxSettings
    limiter: RateLimiter
    faults: FaultInjector
    counter: RequestCounter = field(default_factory=RequestCounter)

    def http_date(self) -> str:
        """The portal clock as an RFC 7231 date (uvicorn's own Date header is turned off)."""
        return formatdate(portal_now_ms(self.store.con()) / 1000, usegmt=True)

    def authenticate(self, request: Request) -> tuple[str, frozenset[str]]:
        """Bearer token → (token, scopes); 401 with HubSpot's body otherwise."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise errors.unauthorized()
        row = self.store.con().execute(
            "select scopes from tokens where token = ?", (token.strip(),)
        ).fetchone()
        if row is None:
            raise errors.unauthorized()
        return token.strip(), frozenset(row[0].split())


def _routes() -> list[BaseRoute]:
    # Imported here so each route module stays independent of the app's construction.
    from sandbox.server import admin, associations, crm_objects, email, pipelines, properties

    routes: list[BaseRoute] = []
    for module in (crm_objects, properties, associations, pipelines, email, admin):
        routes.extend(module.routes())
    return routes


class CountingMiddleware:
    """Counts every request by method + route template + status for `/_sandbox/requests`."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status_holder: dict[str, int] = {}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                # The Date header carries the portal's clock, as HubSpot's carries its own:
                # clients may bound incremental windows by the server's time, not theirs.
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", self.state.http_date().encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            if not template.startswith("/_sandbox"):
                self.state.counter.add(scope["method"], template,
                                       status_holder.get("status", 0))


async def _not_found(request: Request, exc: Exception) -> Response:
    return errors.resource_not_found(f"No route for {request.method} {request.url.path}"
                                     ).response()


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return errors.HubSpotError(405, f"Method {request.method} not allowed",
                               "VALIDATION_ERROR").response()


async def _server_error(request: Request, exc: Exception) -> Response:
    return errors.internal_error()


def create_app(store_path: Path | str, settings: SandboxSettings | None = None) -> Starlette:
    settings = settings or SandboxSettings()
    state = ServerState(
        store=ThreadLocalStore(store_path),
        settings=settings,
        limiter=RateLimiter(settings),
        faults=FaultInjector(settings),
    )
    app = Starlette(
        routes=_routes(),
        exception_handlers={404: _not_found, 405: _method_not_allowed, 500: _server_error},
    )
    app.state.sandbox = state
    app.add_middleware(CountingMiddleware, state=state)
    with state.store.write() as con:  # a portal older than one of HubSpot's own properties
        con.executemany("insert or ignore into properties values (?, ?, ?, ?)",
                        builtin_property_rows(portal_now_ms(con)))
    return app
