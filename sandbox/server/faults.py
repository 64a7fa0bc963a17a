"""Seeded, per-route fault injection: 429, 500, 502, 503, dropped connections, slow answers.

STUB: the server-core helper implements this module; the interface below is fixed.
"""

from __future__ import annotations

from starlette.responses import Response

from sandbox.settings import SandboxSettings


class FaultInjector:
    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings

    async def apply(self, template: str) -> Response | None:
        """Decide (reproducibly, from the seed) whether this request on `template` fails."""
        return None

    def reset(self) -> None:
        """Restart the seeded sequences."""
