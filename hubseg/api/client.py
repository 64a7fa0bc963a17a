"""The HubSpot HTTP client every hubseg step shares: budget, retries, error classification, counts.

Policy per answer (hubspot-api.md §8–§10):

- 2xx (including 207): the parsed JSON body. A body cut short by a dropped connection is
  retried like any network failure.
- 429 `DAILY`: `DailyLimitReached`, at once and for every later request of this client: the
  allowance will not come back before the reset, so retrying would only burn time.
- 429 `TEN_SECONDLY_ROLLING`, the search "secondly limit", 5xx, timeouts and dropped or refused
  connections: retried with exponential back-off and jitter (tenacity), POSTs included (search
  and batch reads are idempotent). `Retry-After` is honoured when HubSpot sends it.
- 401 / 403 / other 4xx: `AuthError` / `MissingScopesError` / `RequestRejected` (no retry).

A host that has never answered during this client's life gets only a few quick attempts: a
wrong base URL or a missing network should fail in seconds with `UnreachableError`, not after
minutes of back-off. Once the host has answered, every failure gets the full retry budget.

Two transports share this policy: `request` sends with requests, `call` runs one request made
by HubSpot's own SDK (hubspot-api-client, built by `hubseg.api.sdk` with its retries off) and
classifies the SDK's `ApiException` from the same (status, headers, body) as our answers.

The token lives only in the `Authorization` header (the sessions', the SDK configuration's);
nothing here formats it, nor any request or response headers.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from hubseg.api.budget import Budget
from hubseg.api.errors import (
    AuthError,
    DailyLimitReached,
    MissingScopesError,
    RequestRejected,
    ServiceUnavailableError,
    UnreachableError,
)
from hubseg.api.paths import ApiPaths, required_scopes
from hubseg.config import HubSpotSettings

log = logging.getLogger("hubseg.api")

# Attempts allowed while the host has never answered: enough for a blip, short for a typo.
FIRST_CONTACT_ATTEMPTS = 3
SEARCH_RETRY_MIN_SECONDS = 1.0  # the search bucket is per second
USER_AGENT = "hubseg (+https://github.com/hubseg/hubseg)"

T = TypeVar("T")
Headers = Mapping[str, str]  # case-insensitive in both requests and urllib3


class _Transient(Exception):
    """A failure worth retrying; `detail` is what the final error reports if retries run out."""

    def __init__(self, detail: str, *, retry_after: float | None = None,
                 min_wait: float = 0.0, connect_failure: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.min_wait = min_wait
        self.connect_failure = connect_failure


@dataclass
class CallStats:
    """API calls and retries per resource (a free-form label chosen by the caller)."""

    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_call(self, resource: str) -> None:
        with self._lock:
            self.calls[resource] += 1

    def add_retry(self, resource: str) -> None:
        with self._lock:
            self.retries[resource] += 1

    def add_status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1

    def total_calls(self) -> int:
        with self._lock:
            return sum(self.calls.values())


def _reason(exc: BaseException) -> BaseException:
    """The failure under the wrappers: requests wraps urllib3's `MaxRetryError`, whose
    `reason` is the cause; HubSpot's SDK (urllib3 without retries) raises it bare or wrapped."""
    inner = exc.args[0] if isinstance(exc, requests.RequestException) and exc.args else exc
    if isinstance(inner, urllib3.exceptions.MaxRetryError) and inner.reason is not None:
        return inner.reason
    return inner if isinstance(inner, BaseException) else exc


def _is_connect_failure(exc: BaseException) -> bool:
    """True when no connection was established (DNS, refused, TLS, connect timeout)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    return isinstance(_reason(exc), (urllib3.exceptions.ConnectTimeoutError,
                                     urllib3.exceptions.SSLError))


def _describe(exc: BaseException) -> str:
    """A short, human account of a network failure (requests' own messages run to lines)."""
    reason = _reason(exc)
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "the host name does not resolve"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "connection refused" if "refused" in str(reason).lower() else "no connection"
    if isinstance(exc, requests.exceptions.ConnectTimeout) or isinstance(
            reason, urllib3.exceptions.ConnectTimeoutError):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.SSLError) or isinstance(
            reason, urllib3.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.Timeout) or isinstance(
            reason, urllib3.exceptions.TimeoutError):
        return "no answer within the request timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError | requests.ConnectionError
                  ) or isinstance(reason, urllib3.exceptions.ProtocolError):
        return "connection dropped mid-response"
    return type(reason).__name__


def _network_failure(exc: BaseException) -> _Transient:
    return _Transient(_describe(exc), connect_failure=_is_connect_failure(exc))


def _sdk_answer(exc: Exception) -> tuple[int, Headers, bytes] | None:
    """(status, headers, body) of an SDK `ApiException`, None for any other exception.

    Every generated package of hubspot-api-client has its own `ApiException` class (with
    `status`, `reason`, `headers` and `body`; status 0 when no answer came), so it is
    recognised by name and module, not imported. Its `headers` are the *response's*; they
    are read for `Retry-After` and `Date` only and never put into a message.
    """
    if not any(c.__name__ == "ApiException" and c.__module__.startswith("hubspot.")
               for c in type(exc).__mro__):
        return None
    body = getattr(exc, "body", None)
    if isinstance(body, str):
        body = body.encode()
    return (int(getattr(exc, "status", 0) or 0), getattr(exc, "headers", None) or {},
            body if isinstance(body, bytes) else b"")


def _error_body(content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content) if content else {}
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(headers: Headers) -> float | None:
    raw = headers.get("Retry-After")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _scopes_from_body(body: dict[str, Any]) -> list[str]:
    scopes: list[str] = []
    for detail in body.get("errors") or []:
        context = detail.get("context") if isinstance(detail, dict) else None
        for scope in (context or {}).get("requiredGranularScopes") or []:
            if scope not in scopes:
                scopes.append(str(scope))
    return scopes


class HubSpotClient:
    """Thread-safe: one `requests.Session` per thread, one shared budget and set of counts."""

    def __init__(self, settings: HubSpotSettings, budget: Budget | None = None) -> None:
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.paths = ApiPaths(settings.api_version)
        self.budget = budget or Budget.from_settings(settings)
        self.stats = CallStats()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._connected = False
        self._first_server_time: datetime | None = None
        self._daily_stop: DailyLimitReached | None = None

    # -- public API -----------------------------------------------------------------------------
    def get(self, path: str, params: dict[str, Any] | None = None, *, resource: str) -> Any:
        return self.request("GET", path, resource=resource, params=params)

    def post(self, path: str, body: Any, *, resource: str) -> Any:
        return self.request("POST", path, resource=resource, body=body)

    def request(self, method: str, path: str, *, resource: str,
                params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """One logical call: retried as the policy says; returns the parsed JSON (or None)."""
        return self._run(method, path, resource,
                         lambda: self._attempt(method, path, params, body, resource))

    def call(self, send: Callable[[], tuple[T, int, Headers]], *, method: str, path: str,
             resource: str) -> T:
        """One logical call made by another HTTP library — HubSpot's SDK — under this client's
        policy: the same budget, counts, retries and errors as `request`.

        `send` makes one attempt and returns `(result, status, headers)`, as the SDK's
        `*_with_http_info` methods do; `result` is returned. An SDK `ApiException` is classified
        from its status, headers and body exactly like an answer to `request`, and urllib3's
        errors like requests' (status 0 and connection errors are network failures). The SDK
        must not retry on its own (`hubseg.api.sdk` builds it that way). `method` and `path`
        name the call in errors and choose the budget (`…/search` draws on the search bucket).
        """
        return self._run(method, path, resource,
                         lambda: self._sdk_attempt(send, path, resource, method))

    def _run(self, method: str, path: str, resource: str, attempt: Callable[[], T]) -> T:
        if self._daily_stop is not None:
            raise self._daily_stop
        retrying = Retrying(
            stop=self._should_stop,
            wait=self._wait_seconds,
            retry=retry_if_exception_type(_Transient),
            before_sleep=lambda state: self._note_retry(method, path, resource, state),
            reraise=True,
        )
        try:
            for try_ in retrying:
                with try_:
                    return attempt()
        except _Transient as exc:
            if exc.connect_failure and not self._connected:
                raise UnreachableError(self.base_url, exc.detail) from None
            raise ServiceUnavailableError(method, path, self.settings.max_attempts,
                                          exc.detail) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    @property
    def first_server_time(self) -> datetime | None:
        """HubSpot's clock (the `Date` header) at this client's first answer, if any yet."""
        return self._first_server_time

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    # -- one attempt ------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({
                "Authorization": f"Bearer {self.settings.access_token.reveal()}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            })
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _attempt(self, method: str, path: str, params: dict[str, Any] | None, body: Any,
                 resource: str) -> Any:
        try:
            with self.budget.request(search=path.endswith("/search")):
                self.stats.add_call(resource)
                response = self._session().request(
                    method, self.base_url + path, params=params, json=body,
                    timeout=self.settings.request_timeout)
        except requests.RequestException as exc:
            raise _network_failure(exc) from None
        self._note_response(response.status_code, response.headers)
        return self._classify(method, path, response.status_code, response.headers,
                              response.content)

    def _sdk_attempt(self, send: Callable[[], tuple[T, int, Headers]], path: str,
                     resource: str, method: str) -> T:
        try:
            with self.budget.request(search=path.endswith("/search")):
                self.stats.add_call(resource)
                result, status, headers = send()
        except urllib3.exceptions.HTTPError as exc:
            raise _network_failure(exc) from None
        except Exception as exc:
            answer = _sdk_answer(exc)
            if answer is None:
                raise
        else:
            self._note_response(status, headers)
            return result
        # Classified outside the `except`, so our errors do not chain the SDK's exception
        # (whose text holds the whole answer).
        status, headers, content = answer
        if status == 0:  # the SDK's account of a connection it could not make (TLS)
            raise _Transient("TLS handshake failed", connect_failure=True)
        self._note_response(status, headers)
        self._classify(method, path, status, headers, content)
        raise AssertionError(f"the SDK raised for a {status} answer")

    def _note_response(self, status: int, headers: Headers) -> None:
        self.stats.add_status(status)
        if self._connected:
            return
        with self._lock:
            if self._first_server_time is None:
                self._first_server_time = _server_time(headers)
            self._connected = True

    def _classify(self, method: str, path: str, status: int, headers: Headers,
                  content: bytes) -> Any:
        """The parsed JSON of a 2xx answer (None if empty); any other answer raises."""
        if 200 <= status < 300:
            if status == 204 or not content:
                return None
            try:
                return json.loads(content)
            except ValueError:
                raise _Transient(f"HTTP {status} with a truncated or non-JSON body") from None
        body = _error_body(content)
        if status == 429:
            self._raise_rate_limited(headers, body)
        if status >= 500:
            raise _Transient(f"HTTP {status}", retry_after=_retry_after(headers))
        if status == 401:
            raise AuthError(self.base_url)
        if status == 403:
            raise MissingScopesError(path, _scopes_from_body(body) or required_scopes(path))
        raise RequestRejected(method, path, status, str(body.get("message") or _phrase(status)),
                              body.get("correlationId"), body)

    def _raise_rate_limited(self, headers: Headers, body: dict[str, Any]) -> None:
        policy = str(body.get("policyName") or "")
        retry_after = _retry_after(headers)
        if policy == "DAILY":
            resets = (None if retry_after is None
                      else datetime.now(UTC) + timedelta(seconds=retry_after))
            with self._lock:
                self._daily_stop = self._daily_stop or DailyLimitReached(resets)
            raise self._daily_stop
        secondly = "secondly limit" in str(body.get("message", "")).lower()
        label = policy or ("secondly limit" if secondly else "rate limit")
        raise _Transient(f"HTTP 429 {label}", retry_after=retry_after,
                         min_wait=SEARCH_RETRY_MIN_SECONDS if secondly else 0.0)

    # -- tenacity hooks -------------------------------------------------------------------------
    def _should_stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        limit = self.settings.max_attempts
        if isinstance(exc, _Transient) and exc.connect_failure and not self._connected:
            limit = min(limit, FIRST_CONTACT_ATTEMPTS)
        return state.attempt_number >= limit

    def _wait_seconds(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return exc.retry_after
        initial = self.settings.backoff_initial
        backoff = min(self.settings.backoff_max, initial * 2 ** (state.attempt_number - 1))
        wait = backoff + random.uniform(0, initial)  # jitter: parallel workers spread out
        min_wait = exc.min_wait if isinstance(exc, _Transient) else 0.0
        return max(wait, min_wait)

    def _note_retry(self, method: str, path: str, resource: str, state: RetryCallState) -> None:
        self.stats.add_retry(resource)
        exc = state.outcome.exception() if state.outcome else None
        log.info("retrying %s %s after %s (attempt %d of %d)", method, path, exc,
                 state.attempt_number, self.settings.max_attempts)


def _server_time(headers: Headers) -> datetime:
    """The server's clock from `Date`; our own clock if the header is missing or unreadable."""
    raw = headers.get("Date")
    if raw:
        try:
            return parsedate_to_datetime(raw).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)
