"""Rate limits per token (10 s rolling window, daily cap, 5/s search bucket) and request counts.

STUB: the server-core helper implements this module; the interface below is fixed.
"""

from __future__ import annotations

import threading
from collections import Counter

from starlette.requests import Request
from starlette.responses import Response

from sandbox.settings import SandboxSettings


class RateLimiter:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings

    def check(self, token: str, template: str, path: str) -> Response | None:
        """Count the request; return HubSpot's 429 response if it exceeds a limit."""
        return None

    def decorate(self, response: Response, template: str, path: str, request: Request) -> None:
        """Add X-HubSpot-RateLimit-* headers (never on search responses)."""

    def reset(self) -> None:
        """Forget all windows and daily counts."""


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
