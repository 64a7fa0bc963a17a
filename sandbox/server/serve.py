"""`hubseg sandbox serve`: run the sandbox app under uvicorn on a socket bound here.

Binding the socket ourselves (instead of letting uvicorn do it) is what makes `--port 0` work:
the kernel picks a free port, and we know it before announcing it. The announcement on stdout
is a small contract with `sandbox.server.process.start_server` and with shell users
(`eval "$(… | grep HUBSPOT_)"`):

    HubSpot sandbox serving portal <portal_id> (<preset>) from <store>
    HUBSPOT_BASE_URL=http://127.0.0.1:PORT
    HUBSPOT_ACCESS_TOKEN=pat-na1-…

Nothing else is written to stdout, and the access log is off: request lines would carry emails
in paths (`/contacts/a%40b.c?idProperty=email`), and tokens must never reach a log.
"""

from __future__ import annotations

import logging
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import cast

import uvicorn

from sandbox.server.app import create_app
from sandbox.server.faults import DropLogFilter, FaultSpecError, parse_fault_spec
from sandbox.settings import RATE_LIMIT_PRESETS, PartialFailureMode, SandboxSettings
from sandbox.store import connect, get_meta

EXIT_USAGE = 2
# Hosts whose server is reachable at 127.0.0.1 (wildcards bind every interface, loopback too).
LOOPBACK_NAMES = {"127.0.0.1", "0.0.0.0", "::", "localhost", ""}  # noqa: S104 - not a bind


class ServeError(Exception):
    """A problem the user can fix (bad flag, missing store): reported in one line, exit 2."""


@dataclass(frozen=True)
class PortalInfo:
    portal_id: str
    preset: str
    token: str


def run(store: Path | str, host: str, port: int, rate_limit: str, faults: str,
        fault_seed: int, partial_failures: str, search_lag_ms: int) -> None:
    """Serve `store` until SIGTERM/SIGINT; exits with status 2 on bad input."""
    try:
        settings = build_settings(rate_limit=rate_limit, faults=faults, fault_seed=fault_seed,
                                  partial_failures=partial_failures,
                                  search_lag_ms=search_lag_ms)
        portal = read_portal(Path(store))
        sock = bind_socket(host, port)
    except ServeError as exc:
        print(f"hubseg sandbox serve: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_USAGE) from None
    # No access log (see above); no Date header of uvicorn's: the app sends the portal clock's.
    config = uvicorn.Config(create_app(store, settings), access_log=False, log_level="warning",
                            lifespan="off", ws="none", timeout_graceful_shutdown=5,
                            server_header=False, date_header=False)
    _quiet_injected_drops()  # after Config: it (re)configures uvicorn's loggers
    server = _AnnouncingServer(
        config, announcement=announcement(portal, Path(store), host, sock.getsockname()[1]))
    # uvicorn's own SIGINT/SIGTERM handlers shut down gracefully (see handle_exit).
    server.run(sockets=[sock])


def build_settings(*, rate_limit: str, faults: str, fault_seed: int, partial_failures: str,
                   search_lag_ms: int) -> SandboxSettings:
    if rate_limit not in RATE_LIMIT_PRESETS:
        raise ServeError(f"unknown --rate-limit {rate_limit!r}; choose one of "
                         f"{', '.join(RATE_LIMIT_PRESETS)}")
    if partial_failures not in ("207", "400"):
        raise ServeError(f"--partial-failures must be 207 or 400, not {partial_failures!r}")
    if search_lag_ms < 0:
        raise ServeError("--search-lag-ms must not be negative")
    try:
        rules = parse_fault_spec(faults)
    except FaultSpecError as exc:
        raise ServeError(f"bad --faults spec {faults!r}: {exc}") from None
    return SandboxSettings(rate_limit=rate_limit,
                           partial_failure_mode=cast(PartialFailureMode, partial_failures),
                           search_index_lag_ms=search_lag_ms, fault_seed=fault_seed,
                           faults=rules)


def read_portal(store: Path) -> PortalInfo:
    """The portal's id, preset and main token (named 'default', else the oldest)."""
    if not store.is_file():
        raise ServeError(f"no sandbox portal at {store}: run `hubseg sandbox generate` first")
    con = connect(store, readonly=True)
    try:
        row = con.execute(
            "select token from tokens order by name = 'default' desc, created_ms, rowid limit 1"
        ).fetchone()
        portal_id = get_meta(con, "portal_id", "?") or "?"
        preset = get_meta(con, "preset", "custom") or "custom"
    except Exception as exc:  # a file that is not a portal store
        raise ServeError(f"{store} is not a sandbox portal ({exc}): run "
                         "`hubseg sandbox generate` first") from None
    finally:
        con.close()
    if row is None:
        raise ServeError(f"the portal at {store} has no access token: regenerate it with "
                         "`hubseg sandbox generate`")
    return PortalInfo(portal_id=portal_id, preset=preset, token=row[0])


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one the kernel picks)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    sock.set_inheritable(True)
    return sock


def base_url(host: str, port: int) -> str:
    if host in LOOPBACK_NAMES:
        return f"http://127.0.0.1:{port}"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def announcement(portal: PortalInfo, store: Path, host: str, port: int) -> str:
    return (f"HubSpot sandbox serving portal {portal.portal_id} ({portal.preset}) from {store}\n"
            f"HUBSPOT_BASE_URL={base_url(host, port)}\n"
            f"HUBSPOT_ACCESS_TOKEN={portal.token}")


def _quiet_injected_drops() -> None:
    logging.getLogger("uvicorn.error").addFilter(DropLogFilter())


class _AnnouncingServer(uvicorn.Server):
    """Prints the announcement only once uvicorn accepts connections on the socket."""

    def __init__(self, config: uvicorn.Config, announcement: str) -> None:
        super().__init__(config)
        self.announcement = announcement

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            print(self.announcement, flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after its graceful shutdown, so the process would end
        # "killed by SIGTERM" (143). A requested stop is a success: exit 0, so scripts that
        # `kill` the server and `wait` for it under `set -e` carry on.
        self._captured_signals.clear()
