"""Seeded, per-route fault injection: 429, 500, 502, 503, dropped connections, slow answers.

Reproducibility is the point: the fate of the n-th request on a route template is a pure
function of (fault_seed, template, n), so a client test that failed on a given seed fails the
same way when re-run, however the requests of *other* routes interleave.

Command-line spec (`hubseg sandbox serve --faults …`), comma-separated items:

    [ROUTE:]KIND=SHARE[@SECONDS]

- KIND is one of 429, 500, 502, 503, drop, slow; SHARE is in [0, 1].
- ROUTE is a route template (`/crm/v3/objects/{object_type}`), a prefix ending in `*`
  (`/crm/v3/objects/*`) or `*` (the default: every HubSpot route).
- `@SECONDS` sets how long `slow` answers are delayed (default 2 s): `slow=0.1@0.5`.

Example: `429=0.05,500=0.02,drop=0.01,slow=0.01,/crm/v3/objects/{object_type}/search:503=0.1`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sandbox.server.errors import HubSpotError, internal_error
from sandbox.server.limits import is_search, secondly_error, ten_secondly_error
from sandbox.settings import FaultRule, SandboxSettings

FAULT_KINDS: tuple[str, ...] = ("429", "500", "502", "503", "drop", "slow")
DEFAULT_SLOW_SECONDS = FaultRule().slow_seconds


class FaultSpecError(ValueError):
    """A fault spec or rule that cannot be applied; the message says what is wrong."""


# -- parsing and validation -------------------------------------------------------------------

def parse_fault_spec(spec: str) -> list[FaultRule]:
    """`[ROUTE:]KIND=SHARE[@SECONDS],…` → one validated FaultRule per route, in spec order."""
    rules: dict[str, FaultRule] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        # Templates may contain ':' themselves (`{version:\d{4}…}`), the KIND=SHARE part never.
        route, _, assignment = item.rpartition(":")
        kind, eq, value = assignment.partition("=")
        if not eq:
            raise FaultSpecError(f"fault item {item!r} is not of the form [ROUTE:]KIND=SHARE")
        share_text, _, seconds_text = value.partition("@")
        rule = rules.setdefault(route or "*", FaultRule(route=route or "*"))
        kind = kind.strip()
        if kind in rule.kinds:
            raise FaultSpecError(f"fault kind {kind!r} given twice for route {rule.route!r}")
        rule.kinds[kind] = _number(share_text, f"share of {kind!r}")
        if seconds_text:
            if kind != "slow":
                raise FaultSpecError(f"only slow takes @SECONDS, not {kind!r}")
            rule.slow_seconds = _number(seconds_text, "slow seconds")
    for rule in rules.values():
        validate_rule(rule)
    return list(rules.values())


def rule_from_json(data: Mapping[str, Any]) -> FaultRule:
    """`{"route", "kinds": {kind: share}, "slowSeconds"}` (admin config) → a validated rule."""
    unknown = set(data) - {"route", "kinds", "slowSeconds"}
    if unknown:
        raise FaultSpecError(f"unknown fault rule fields: {sorted(unknown)}")
    kinds = data.get("kinds", {})
    if not isinstance(kinds, Mapping):
        raise FaultSpecError("fault rule 'kinds' must be an object of kind → share")
    rule = FaultRule(
        route=str(data.get("route", "*")),
        kinds={str(k): _number(v, f"share of {k!r}") for k, v in kinds.items()},
        slow_seconds=_number(data.get("slowSeconds", DEFAULT_SLOW_SECONDS), "slowSeconds"),
    )
    validate_rule(rule)
    return rule


def rule_to_json(rule: FaultRule) -> dict[str, Any]:
    return {"route": rule.route, "kinds": dict(rule.kinds), "slowSeconds": rule.slow_seconds}


def validate_rule(rule: FaultRule) -> None:
    unknown = [k for k in rule.kinds if k not in FAULT_KINDS]
    if unknown:
        raise FaultSpecError(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULT_KINDS)}")
    bad = [k for k, share in rule.kinds.items() if not 0.0 <= share <= 1.0]
    if bad:
        raise FaultSpecError(f"fault shares must be within [0, 1]: {bad}")
    if sum(rule.kinds.values()) > 1.0 + 1e-9:
        raise FaultSpecError(f"fault shares for route {rule.route!r} add up to more than 1")
    if rule.slow_seconds < 0:
        raise FaultSpecError("slow seconds must not be negative")
    if not rule.route:
        raise FaultSpecError("fault route must not be empty (use '*' for all routes)")


def _number(value: object, what: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FaultSpecError(f"{what} is not a number: {value!r}") from None


# -- deciding ---------------------------------------------------------------------------------

def route_matches(pattern: str, template: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return template.startswith(pattern[:-1])
    return template == pattern


def uniform(seed: int, template: str, n: int) -> float:
    """A reproducible draw in [0, 1) for the n-th request on `template` under `seed`."""
    digest = hashlib.blake2b(f"{seed}\0{template}\0{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(rules: Iterable[FaultRule], draw: float) -> tuple[str, FaultRule] | None:
    """The kind whose slice of [0, 1) holds `draw`, walking matching rules in order."""
    edge = 0.0
    for rule in rules:
        for kind, share in rule.kinds.items():
            edge += share
            if draw < edge:
                return kind, rule
    return None


# -- answering --------------------------------------------------------------------------------

class ConnectionDropped(Exception):
    """Raised after a partial response so uvicorn closes the connection mid-body."""


class DropLogFilter(logging.Filter):
    """Keeps uvicorn's error log free of the tracebacks that injected drops cause on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, ConnectionDropped)


class DroppedResponse(Response):
    """Promise a body, send a fragment of it, then make the server cut the connection.

    Clients see what a network failure mid-download looks like: `requests` raises
    ChunkedEncodingError/ConnectionError ("IncompleteRead"), urllib3 ProtocolError.
    """

    PROMISED_BYTES = 4096
    FRAGMENT = b'{"results":[{"id":"'

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json;charset=utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json;charset=utf-8"),
            (b"content-length", str(self.PROMISED_BYTES).encode()),
        ]})
        await send({"type": "http.response.body", "body": self.FRAGMENT, "more_body": True})
        raise ConnectionDropped("injected fault: connection dropped mid-response")


def _error_response(kind: str, retry_after_header: bool, template: str) -> Response:
    if kind == "429":
        # One second, not ten: the limit is fictitious, only the client's reaction matters.
        # Search answers with its own body (no policyName), as HubSpot's search limit does.
        error = secondly_error if is_search(template) else ten_secondly_error
        return error(1.0 if retry_after_header else None).response()
    if kind == "500":
        return internal_error()
    message = {"502": "Bad Gateway", "503": "Service Unavailable"}[kind]
    return HubSpotError(int(kind), message, None).response()


class FaultInjector:
    """Applies `settings.faults` to HubSpot routes (never `/_sandbox/`), reproducibly."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._seen: defaultdict[str, int] = defaultdict(int)

    def decide(self, template: str) -> tuple[str, FaultRule] | None:
        """The fault for the next request on `template`, or None; advances its sequence."""
        rules = [r for r in self.settings.faults if route_matches(r.route, template)]
        if not rules:
            return None
        with self._lock:
            n = self._seen[template]
            self._seen[template] = n + 1
        return pick(rules, uniform(self.settings.fault_seed, template, n))

    async def apply(self, template: str) -> Response | None:
        """Decide (reproducibly, from the seed) whether this request on `template` fails."""
        decision = self.decide(template)
        if decision is None:
            return None
        kind, rule = decision
        if kind == "slow":
            await asyncio.sleep(rule.slow_seconds)
            return None
        if kind == "drop":
            return DroppedResponse()
        return _error_response(kind, self.settings.retry_after_header, template)

    def reset(self) -> None:
        """Restart the seeded sequences."""
        with self._lock:
            self._seen.clear()
