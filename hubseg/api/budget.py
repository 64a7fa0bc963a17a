"""The client-side API budget: never let our own requests trip HubSpot's rate limits.

HubSpot enforces, per private app (hubspot-api.md §9 and §3.3):

- a rolling 10-second window (starter 100, pro and enterprise 190 requests);
- a separate bucket of 5 search requests per second (search does not count in the 10 s window);
- a daily allowance per account (250k / 625k / 1M), reset at midnight in the account's time zone.

HubSpot counts requests when they arrive; we only know when one leaves and when its answer
comes back, and the arrival lies in between. So both windows count each request from its
departure until the window's length (plus 100 ms for timer granularity) after its answer:
however long the network or either side's queues delay it, no window of arrivals can hold more
than the limit. Counting departures instead is not enough, even over a stretched window:
over a window 5% longer, a 19,000-call sync at `large` still met nine 429s on the 10-second
window; on the search bucket (5 per 1.1 s from departure), a search that a busy server counts
late can share HubSpot's second with five others (tests/pipelines/test_extract_units.py).
The price is the round trip: a search bucket of 5 per second allows 5 per (1.1 s + the time a
search takes to answer). Stretching the window, not shrinking the count, matters for small
limits: 5 searches per 1.1 s is 4.5 per second, where 5% fewer requests would round down to 4.
The daily allowance is not throttled here: other apps share it, so only HubSpot knows what is
left; its 429 DAILY answer stops the run cleanly (see `client.py`).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import monotonic

from hubseg.config import HubSpotSettings

JITTER_MS = 100  # the least a window is stretched: arrival jitter, timer granularity
SECOND_MS = 1000


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


class AnswerWindow:
    """At most `window.requests` requests in any `window.ms`, counted from each request's
    departure until `window.ms` after its answer (see the module's docstring)."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self._seconds = window.ms / 1000
        self._changed = threading.Condition()
        self._in_flight = 0
        self._answered: deque[float] = deque()  # when answers came back, oldest first

    def acquire(self) -> None:
        with self._changed:
            while True:
                now = monotonic()
                while self._answered and self._answered[0] <= now - self._seconds:
                    self._answered.popleft()
                if self._in_flight + len(self._answered) < self.window.requests:
                    self._in_flight += 1
                    return
                # Every place is taken: wait for the oldest answer to age out of the window,
                # or, if all are in flight, for an answer.
                self._changed.wait(self._answered[0] + self._seconds - now
                                   if self._answered else None)

    def release(self) -> None:
        """The request's answer (or failure) came back: its window starts now."""
        with self._changed:
            self._in_flight -= 1
            self._answered.append(monotonic())
            self._changed.notify_all()


class Budget:
    """Blocks the calling thread until a request of the given kind fits both windows."""

    def __init__(self, limits: TierLimits, safety_margin: float) -> None:
        self.limits = limits
        self.general = _window(limits.per_ten_seconds, SECOND_MS * 10, 0)
        self.search = _window(limits.search_per_second, SECOND_MS, safety_margin)
        self._general = AnswerWindow(self.general) if self.general else None
        self._search = AnswerWindow(self.search) if self.search else None
        self._lock = threading.Lock()
        self._acquiring: dict[int, float] = {}  # thread id → when it asked for a place

    @classmethod
    def from_settings(cls, settings: HubSpotSettings) -> Budget:
        return cls(limits_for(settings), settings.safety_margin)

    @contextmanager
    def request(self, search: bool) -> Iterator[None]:
        """Wait for a place in the windows, then hold it while the request is made."""
        places = self._search if search else self._general
        if places is None:
            yield
            return
        self._wait_for_place(places)
        try:
            yield
        finally:
            places.release()

    def _wait_for_place(self, places: AnswerWindow) -> None:
        me = threading.get_ident()
        with self._lock:
            self._acquiring[me] = monotonic()
        try:
            places.acquire()
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
        """The sustained rate this budget allows when answers are instant (the benchmark's
        rate-limit bound); each round trip lowers it a little."""
        window = self.search if search else self.general
        return None if window is None else window.per_second
