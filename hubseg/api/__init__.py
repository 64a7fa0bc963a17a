"""The HubSpot API client shared by every hubseg step (extract now, reverse ETL later)."""

from hubseg.api.budget import Budget, TierLimits, limits_for
from hubseg.api.client import CallStats, HubSpotClient
from hubseg.api.errors import (
    AuthError,
    DailyLimitReached,
    HubSpotApiError,
    MissingScopesError,
    RequestRejected,
    ServiceUnavailableError,
    UnreachableError,
)
from hubseg.api.paths import ApiPaths, required_scopes

__all__ = [
    "ApiPaths",
    "AuthError",
    "Budget",
    "CallStats",
    "DailyLimitReached",
    "HubSpotApiError",
    "HubSpotClient",
    "MissingScopesError",
    "RequestRejected",
    "ServiceUnavailableError",
    "TierLimits",
    "UnreachableError",
    "limits_for",
    "required_scopes",
]
