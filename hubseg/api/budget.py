"""The client-side API budget: never let our own requests trip HubSpot's rate limits.

HubSpot enforces, per private app (hubspot-api.md §9 and §3.3):

- a rolling 10-second window (starter 100, pro and enterprise 190 requests);
- a separate bucket of 5 search requests per second (search does not count in the 10 s window);
- a daily allowance per account (250k / 625k / 1M), reset at midnight in the account's time zone.

We hold every request until both windows have room, sized `safety_margin` below the real limits
so that network jitter (HubSpot counts arrivals, we count departures) never pushes a window over.
The daily allowance is not throttled here: other apps share it, so only HubSpot knows what is
left; its 429 DAILY answer stops the run cleanly (see `client.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyrate_limiter import Duration, InMemoryBucket, Limiter, Rate

from hubseg.config import HubSpotSettings

BUFFER_MS = 100


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


def _with_margin(limit: int, margin: float) -> int:
    return max(1, math.floor(limit * (1 - margin)))


class Budget:
    """Blocks the calling thread until a request of the given kind fits both windows."""

    def __init__(self, limits: TierLimits, safety_margin: float) -> None:
        self.limits = limits
        self.general_rate = (None if limits.per_ten_seconds is None
                             else _with_margin(limits.per_ten_seconds, safety_margin))
        self.search_rate = (None if limits.search_per_second is None
                            else _with_margin(limits.search_per_second, safety_margin))
        self._general = self._limiter(self.general_rate, Duration.SECOND * 10)
        self._search = self._limiter(self.search_rate, Duration.SECOND)

    @staticmethod
    def _limiter(limit: int | None, window: int) -> Limiter | None:
        if limit is None:
            return None
        # A sliding log: exactly "at most `limit` in any window", like HubSpot's rolling window.
        # The buffer keeps a waiting request 0.1 s past the moment the window frees up, so one
        # that HubSpot received late still counts in the window it was sent in.
        return Limiter(InMemoryBucket([Rate(limit, window)]), buffer_ms=BUFFER_MS)

    @classmethod
    def from_settings(cls, settings: HubSpotSettings) -> Budget:
        return cls(limits_for(settings), settings.safety_margin)

    def acquire(self, search: bool) -> None:
        limiter = self._search if search else self._general
        if limiter is not None:
            limiter.try_acquire("hubspot")

    def requests_per_second(self, search: bool = False) -> float | None:
        """The sustained rate this budget allows (for the benchmark's rate-limit bound)."""
        if search:
            return None if self.search_rate is None else float(self.search_rate)
        return None if self.general_rate is None else self.general_rate / 10.0
