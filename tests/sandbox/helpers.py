"""What the sandbox conformance tests share: HubSpot's own SDK pointed at a sandbox server."""

from __future__ import annotations

from hubspot import HubSpot

from sandbox.server.process import RunningServer


def sdk(server: RunningServer, token: str | None = None) -> HubSpot:
    """The real `hubspot-api-client`, talking to `server` (its token unless one is given)."""
    return HubSpot(access_token=token or server.token, host=server.base_url,
                   base_url=server.base_url)
