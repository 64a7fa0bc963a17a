"""HubSpot's error bodies (hubspot-api.md §8), raised anywhere and rendered in one place."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import Response


class HubSpotError(Exception):
    """An error answered with HubSpot's `Error` shape: status, message, category, correlationId."""

    def __init__(
        self,
        status: int,
        message: str,
        category: str | None = None,
        *,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        sub_category: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.context = context
        self.errors = errors
        self.sub_category = sub_category
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self, correlation_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "error", "message": self.message,
                                "correlationId": correlation_id}
        if self.context is not None:
            body["context"] = self.context
        if self.category is not None:
            body["category"] = self.category
        if self.sub_category is not None:
            body["subCategory"] = self.sub_category
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body

    def response(self) -> Response:
        correlation_id = str(uuid.uuid4())
        headers = {"X-HubSpot-Correlation-Id": correlation_id, **self.headers}
        return Response(json.dumps(self.body(correlation_id)), status_code=self.status,
                        media_type="application/json;charset=utf-8", headers=headers)


def validation(message: str, *, context: dict[str, list[str]] | None = None) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", context=context)


def not_found(object_id: str) -> HubSpotError:
    # The real message has two spaces after the first full stop [observed].
    return HubSpotError(404, "Object not found.  objectId are usually numeric.",
                        "OBJECT_NOT_FOUND", context={"id": [object_id]})


def resource_not_found(message: str = "Resource not found") -> HubSpotError:
    return HubSpotError(404, message, "OBJECT_NOT_FOUND")


def unauthorized() -> HubSpotError:
    return HubSpotError(
        401,
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
        "you can find more details at https://developers.hubspot.com/docs/methods/auth/"
        "oauth-overview",
        "INVALID_AUTHENTICATION",
        headers={"X-HubSpot-Auth-Failure": "401 Unauthorized"},
    )


def missing_scopes(required: list[str], *, detail: bool = True) -> HubSpotError:
    """`detail`: name the scopes in `errors[].context` ([inferred]: clients must cope without)."""
    return HubSpotError(
        403,
        "This app hasn't been granted all required scopes to make this call. Read more about "
        "required scopes here: https://developers.hubspot.com/scopes.",
        "MISSING_SCOPES",
        errors=[{"message": "One or more of the following scopes are required.",
                 "context": {"requiredGranularScopes": required}}] if detail else None,
    )


def property_values_invalid(problems: list[dict[str, Any]]) -> HubSpotError:
    """Whole-request 400 for INVALID_OPTION / PROPERTY_DOESNT_EXIST / READ_ONLY_VALUE."""
    return validation("Property values were not valid: " + json.dumps(problems))


def internal_error() -> Response:
    correlation_id = str(uuid.uuid4())
    return Response(
        json.dumps({"correlationId": correlation_id, "message": "internal error",
                    "status": "error"}),
        status_code=500, media_type="application/json;charset=utf-8",
        headers={"X-HubSpot-Correlation-Id": correlation_id},
    )
