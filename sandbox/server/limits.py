"""Rate limits (10 s rolling window per token; daily cap and 5/s search bucket per account)
and request counts.

HubSpot's policies (hubspot-api.md §9 and §3.3), as the sandbox models them:

- **TEN_SECONDLY_ROLLING**: at most `per_ten_seconds` accepted non-search requests in any
  rolling 10 s window (real monotonic time, not the portal clock: a client's back-off sleeps in
  real time).
- **DAILY**: at most `per_day` accepted requests (search included) per UTC day, for the whole
  account (every token of the portal). HubSpot resets
  at midnight in the account's time zone; the sandbox's portals have no time zone, so the
  counter resets at midnight UTC of real time.
- **Search secondly**: at most `search_per_second` accepted requests per second, per account, on
  routes whose
  template ends with `/search`. Search requests count against the daily cap but not against the
  10 s window, and their responses carry no rate-limit headers (HubSpot documents both).

A rejected request consumes nothing: a client that keeps hammering while limited is not pushed
further into the penalty, so "wait for the window to pass" always works, which is what HubSpot's
own SDKs assume when they back off for exactly one window.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from sandbox.server.errors import HubSpotError
from sandbox.settings import RateLimitPreset, SandboxSettings

WINDOW_SECONDS = 10.0
SEARCH_WINDOW_SECONDS = 1.0
SECONDLY_WINDOW_SECONDS = 1.0


def is_search(template: str) -> bool:
    return template.endswith("/search")


# -- HubSpot's 429 bodies ---------------------------------------------------------------------

def _policy_error(message: str, policy: str | None, retry_after: float | None) -> HubSpotError:
    """A 429 in HubSpot's rate-limit shape (no `category`; `errorType` instead)."""
    extra: dict[str, str] = {"errorType": "RATE_LIMIT"}
    if policy is not None:
        # Only the account-wide policies carry policyName and requestId; search's does not.
        extra["policyName"] = policy
        extra["requestId"] = str(uuid.uuid4())
    headers = {} if retry_after is None else {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return HubSpotError(429, message, None, extra=extra, headers=headers)


def ten_secondly_error(retry_after: float | None = None) -> HubSpotError:
    return _policy_error("You have reached your ten_secondly_rolling limit.",
                         "TEN_SECONDLY_ROLLING", retry_after)


def daily_error(retry_after: float | None = None) -> HubSpotError:
    return _policy_error("You have reached your daily limit.", "DAILY", retry_after)


def secondly_error(retry_after: float | None = None) -> HubSpotError:
    return _policy_error("You have reached your secondly limit.", None, retry_after)


# -- per-token bookkeeping --------------------------------------------------------------------

@dataclass
class _TokenUsage:
    """Accepted-request timestamps (monotonic seconds) and the day's count: of one token (its
    10 s window), or of the account (search bucket and daily count)."""

    window: deque[float] = field(default_factory=deque)  # non-search, last 10 s
    search: deque[float] = field(default_factory=deque)  # search, last 1 s
    day: str = ""
    day_count: int = 0

    def prune(self, now: float) -> None:
        _drop_older(self.window, now - WINDOW_SECONDS)
        _drop_older(self.search, now - SEARCH_WINDOW_SECONDS)

    def roll_day(self, today: str) -> None:
        if self.day != today:
            self.day, self.day_count = today, 0

    def recent(self, now: float, seconds: float) -> int:
        """Accepted non-search requests in the last `seconds` (for the -Secondly headers)."""
        cutoff, count = now - seconds, 0
        for stamp in reversed(self.window):  # newest first: stop at the first older stamp
            if stamp <= cutoff:
                break
            count += 1
        return count


def _drop_older(stamps: deque[float], cutoff: float) -> None:
    while stamps and stamps[0] <= cutoff:
        stamps.popleft()


def _utc_day() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def _seconds_to_utc_midnight() -> float:
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


def _bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class RateLimiter:
    """Per-token rate limiting with the limits of `settings.preset()`, re-read on every call.

    Holding the settings object (not a copy) is what makes `PUT /_sandbox/config` take effect
    immediately. `check` and `decorate` run on the event loop, `reset` from admin requests; a
    lock keeps the bookkeeping consistent regardless.
    """

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._usage: dict[str, _TokenUsage] = {}  # the 10-second window: per token (app)
        # The daily cap and the search bucket: per account (reference §9 and §3.3), so two
        # private apps of one portal share them.
        self._account = _TokenUsage()

    def check(self, token: str, template: str, path: str) -> Response | None:
        """Count the request; return HubSpot's 429 response if it exceeds a limit."""
        preset = self.settings.preset()
        if not _active(preset):
            return None
        search = is_search(template)
        now = time.monotonic()
        with self._lock:
            usage = self._usage.setdefault(token, _TokenUsage())
            usage.prune(now)
            self._account.prune(now)
            self._account.roll_day(_utc_day())
            error = self._violation(usage, preset, search, now)
            if error is None:
                self._account.day_count += 1
                (self._account.search if search else usage.window).append(now)
                return None
            headers = {} if search else self._headers(usage, preset, now)
        response = error.response()
        response.headers.update(headers)
        return response

    def _violation(self, usage: _TokenUsage, preset: RateLimitPreset, search: bool,
                   now: float) -> HubSpotError | None:
        """The policy this request would break, daily first (it outlasts the short windows)."""
        retry = self.settings.retry_after_header
        account = self._account
        if preset.per_day is not None and account.day_count >= preset.per_day:
            return daily_error(_seconds_to_utc_midnight() if retry else None)
        if search:
            limit = preset.search_per_second
            if limit is not None and len(account.search) >= limit:
                wait = account.search[0] + SEARCH_WINDOW_SECONDS - now
                return secondly_error(wait if retry else None)
            return None
        limit = preset.per_ten_seconds
        if limit is not None and len(usage.window) >= limit:
            wait = usage.window[0] + WINDOW_SECONDS - now
            return ten_secondly_error(wait if retry else None)
        return None

    def decorate(self, response: Response, template: str, path: str, request: Request) -> None:
        """Add X-HubSpot-RateLimit-* headers (never on search responses).

        With the `off` preset and no explicit limits nothing is sent: there are no limits to
        describe. Requests that never reached `check` (bad token) get none either.
        """
        preset = self.settings.preset()
        token = _bearer_token(request)
        if is_search(template) or not _active(preset) or token is None:
            return
        now = time.monotonic()
        with self._lock:
            usage = self._usage.get(token)
            if usage is None:
                return
            usage.prune(now)
            headers = self._headers(usage, preset, now)
        response.headers.update(headers)

    def _headers(self, usage: _TokenUsage, preset: RateLimitPreset, now: float
                 ) -> dict[str, str]:
        headers: dict[str, str] = {}
        if preset.per_day is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(preset.per_day)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(0, preset.per_day - self._account.day_count))
        if preset.per_ten_seconds is not None:
            per_ten = preset.per_ten_seconds
            # HubSpot reports a per-second figure of a tenth of the window [observed: Max 150,
            # Secondly 15]. It is informational here: only the 10 s window is enforced.
            secondly = max(1, per_ten // 10)
            headers.update({
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
                "X-HubSpot-RateLimit-Max": str(per_ten),
                "X-HubSpot-RateLimit-Remaining": str(max(0, per_ten - len(usage.window))),
                "X-HubSpot-RateLimit-Secondly": str(secondly),
                "X-HubSpot-RateLimit-Secondly-Remaining": str(
                    max(0, secondly - usage.recent(now, SECONDLY_WINDOW_SECONDS))),
            })
        return headers

    def reset(self) -> None:
        """Forget all windows and daily counts."""
        with self._lock:
            self._usage.clear()
            self._account = _TokenUsage()


def _active(preset: RateLimitPreset) -> bool:
    return any(v is not None for v in
               (preset.per_ten_seconds, preset.per_day, preset.search_per_second))


class RequestCounter:
    """Requests by (method, route template, status)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()

    def add(self, method: str, template: str, status: int) -> None:
        with self._lock:
            self._counts[(method, template, status)] += 1

    def snapshot(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"method": m, "route": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self._counts.items())
            ]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
