"""The client-side API budget: never let our own requests trip HubSpot's rate limits.

HubSpot enforces, per private app (hubspot-api.md §9 and §3.3):

- a rolling 10-second window (starter 100, pro and enterprise 190 requests);
- a separate bucket of 5 search requests per second (search does not count in the 10 s window);
- a daily allowance per account (250k / 625k / 1M), reset at midnight in the account's time zone.

We hold every request until both windows have room, with windows longer than the real ones by
`safety_margin` (and by at least 100 ms), so that network jitter (HubSpot counts arrivals, we
count departures) never pushes a window over. Stretching the window, not shrinking the count,
matters for small limits: 5 searches per 1.1 s is 4.5 per second, where 5% fewer requests would
round down to 4. A request waiting for the 10-second window is also held 100 ms past its slot:
with several batch requests in flight, one can leave well after it was admitted (without the
hold, a saturated 19,000-call sync at `large` met nine 429s); that costs 1% there, where on the
one-second search bucket it cost 9%, so searches wait only for their slot.
The daily allowance is not throttled here: other apps share it, so only HubSpot knows what is
left; its 429 DAILY answer stops the run cleanly (see `client.py`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from time import monotonic

from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate

from hubseg.config import HubSpotSettings

JITTER_MS = 100  # the least a window is stretched: the arrival jitter we allow for
HOLD_MS = 100  # how long past its slot a request waiting for the 10-second window is held
WAKE_MS = 5  # a waiting search sleeps this much past its slot: timers may wake early


@dataclass(frozen=True)
class TierLimits:
    per_ten_seconds: int | None
    search_per_second: int | None
    per_day: int | None


TIER_LIMITS: dict[str, TierLimits] = {
    "starter": TierLimits(100, 5, 250_000),
    "pro": TierLimits(190, 5, 625_000),
    "enterprise": TierLimits(190, 5, 1_000_000),
    "custom": TierLimits(None, 5, None),  # numbers come from the configuration
    "unlimited": TierLimits(None, None, None),  # the sandbox with rate limits off
}


def limits_for(settings: HubSpotSettings) -> TierLimits:
    """The tier's published limits, with explicitly configured numbers taking precedence."""
    tier = TIER_LIMITS[settings.tier]
    return TierLimits(
        per_ten_seconds=settings.per_ten_seconds or tier.per_ten_seconds,
        search_per_second=settings.search_per_second or tier.search_per_second,
        per_day=settings.per_day or tier.per_day,
    )


@dataclass(frozen=True)
class Window:
    """At most `requests` in any `ms` milliseconds (HubSpot's limit, our longer window)."""

    requests: int
    ms: int

    @property
    def per_second(self) -> float:
        return self.requests * 1000 / self.ms


def _window(limit: int | None, ms: int, margin: float) -> Window | None:
    return None if limit is None else Window(limit, ms + max(JITTER_MS, math.ceil(ms * margin)))


class Budget:
    """Blocks the calling thread until a request of the given kind fits both windows."""

    def __init__(self, limits: TierLimits, safety_margin: float) -> None:
        self.limits = limits
        self.general = _window(limits.per_ten_seconds, Duration.SECOND * 10, safety_margin)
        self.search = _window(limits.search_per_second, Duration.SECOND, safety_margin)
        self._general = self._limiter(self.general, HOLD_MS)
        self._search = self._limiter(self.search, WAKE_MS)
        self._lock = threading.Lock()
        self._acquiring: dict[int, float] = {}  # thread id → when it asked for a slot

    @staticmethod
    def _limiter(window: Window | None, hold_ms: int) -> Limiter | None:
        if window is None:
            return None
        # A sliding log: exactly "at most n in any window", like HubSpot's rolling window.
        return Limiter(InMemoryBucket([Rate(window.requests, window.ms)]), buffer_ms=hold_ms)

    @classmethod
    def from_settings(cls, settings: HubSpotSettings) -> Budget:
        return cls(limits_for(settings), settings.safety_margin)

    def acquire(self, search: bool) -> None:
        limiter = self._search if search else self._general
        if limiter is None:
            return
        me = threading.get_ident()
        with self._lock:
            self._acquiring[me] = monotonic()
        try:
            limiter.try_acquire("hubspot")
        finally:
            with self._lock:
                del self._acquiring[me]

    def holding(self, longer_than_s: float = 0.05) -> bool:
        """True while a request has waited for its slot longer than `longer_than_s`: the budget,
        not HubSpot, is what the caller waits for, so its thread may do other work meanwhile."""
        now = monotonic()
        with self._lock:
            return any(now - since > longer_than_s for since in self._acquiring.values())

    def requests_per_second(self, search: bool = False) -> float | None:
        """The sustained rate this budget allows (for the benchmark's rate-limit bound)."""
        window = self.search if search else self.general
        return None if window is None else window.per_second
