"""Exceptions a user can act on: each message says what went wrong and what to do about it.

No message ever contains the access token: errors are built from status codes, HubSpot's error
bodies, the base URL and request paths (the token travels only in the Authorization header).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class HubSpotApiError(Exception):
    """Base class of every error the HubSpot client raises."""


class AuthError(HubSpotApiError):
    """401: the token is wrong, revoked or expired."""

    def __init__(self, base_url: str) -> None:
        super().__init__(
            f"HubSpot ({base_url}) rejected the access token (401 Unauthorized). Create a "
            "private app token in HubSpot (Settings › Integrations › Private apps) with the "
            "scopes listed in the README, and set it as HUBSPOT_ACCESS_TOKEN (or access_token "
            "under [sources.hubspot] in .dlt/secrets.toml).")


class MissingScopesError(HubSpotApiError):
    """403 MISSING_SCOPES: the token works but lacks the scope an endpoint needs."""

    def __init__(self, path: str, scopes: list[str]) -> None:
        self.path = path
        self.scopes = scopes
        needed = " or ".join(f"`{s}`" for s in scopes) if scopes else "(not stated by HubSpot)"
        super().__init__(
            f"HubSpot refused {path} (403): the private app lacks the scope {needed}. Add it "
            "to the private app in HubSpot (Settings › Integrations › Private apps › Scopes); "
            "the token stays the same.")


class UnreachableError(HubSpotApiError):
    """No connection to the API host (DNS failure, connection refused, TLS failure)."""

    def __init__(self, base_url: str, detail: str) -> None:
        super().__init__(
            f"cannot reach HubSpot at {base_url} ({detail}). Check the network, or the "
            "HUBSPOT_BASE_URL setting (base_url under [sources.hubspot] in .dlt/config.toml; "
            "the default is https://api.hubapi.com).")


class DailyLimitReached(HubSpotApiError):
    """429 DAILY: the portal's daily API allowance is used up; stop and resume later."""

    def __init__(self, resets_at: datetime | None) -> None:
        self.resets_at = resets_at
        when = (f"at {resets_at:%Y-%m-%d %H:%M} UTC" if resets_at is not None
                else "at midnight in the HubSpot account's time zone")
        super().__init__(
            f"HubSpot's daily API limit is reached; it resets {when}. Everything fetched so "
            "far is loaded and the next run resumes where this one stopped.")


class ServiceUnavailableError(HubSpotApiError):
    """Transient failures (5xx, 429, dropped connections) outlasted every retry."""

    def __init__(self, method: str, path: str, attempts: int, last: str) -> None:
        super().__init__(
            f"HubSpot kept failing on {method} {path} after {attempts} attempts (last: "
            f"{last}). Run again later: the next run resumes from what this one committed.")


class RequestRejected(HubSpotApiError):
    """Any other 4xx: HubSpot refused the request as sent (a bug or a config problem)."""

    def __init__(self, method: str, path: str, status: int, message: str,
                 correlation_id: str | None, body: dict[str, Any] | None = None) -> None:
        self.status = status
        # HubSpot's parsed error body (category, context ids…): the sync attributes a batch
        # rejection to the inputs it names.
        self.body: dict[str, Any] = body or {}
        ref = f" (correlationId {correlation_id})" if correlation_id else ""
        super().__init__(f"HubSpot answered {status} to {method} {path}: {message}{ref}")
