"""HubSpot endpoint paths for the configured API version, and the scopes each one needs.

`api_version` is `v3` (classic numbered paths: `/crm/v3/…`, `/crm/v4/…`) or a date version such
as `2026-03` (`/crm/objects/2026-03/…`). HubSpot has no date-versioned replacement for the legacy
email analytics API, so `/email/public/v1/…` is the same in both (hubspot-api.md §1.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

# Date-versioned deals paths use the type id (the spec's `0-3`); the classic ones the name.
_DBV_OBJECT_NAMES = {"contacts": "contacts", "companies": "companies", "deals": "0-3"}


@dataclass(frozen=True)
class ApiPaths:
    version: str = "v3"

    @property
    def classic(self) -> bool:
        return self.version == "v3"

    def _crm(self, api: str, classic_version: str, rest: str) -> str:
        if self.classic:
            return f"/crm/{classic_version}/{api}/{rest}"
        return f"/crm/{api}/{self.version}/{rest}"

    def _object(self, object_type: str) -> str:
        return object_type if self.classic else _DBV_OBJECT_NAMES.get(object_type, object_type)

    def objects(self, object_type: str) -> str:
        return self._crm("objects", "v3", self._object(object_type))

    def search(self, object_type: str) -> str:
        return f"{self.objects(object_type)}/search"

    def batch_read(self, object_type: str) -> str:
        return f"{self.objects(object_type)}/batch/read"

    def properties(self, object_type: str) -> str:
        return self._crm("properties", "v3", object_type)

    def pipelines(self, object_type: str) -> str:
        return self._crm("pipelines", "v3", object_type)

    def association_batch_read(self, from_type: str, to_type: str) -> str:
        return self._crm("associations", "v4", f"{from_type}/{to_type}/batch/read")

    def associations(self, from_type: str, object_id: str, to_type: str) -> str:
        return self._crm("objects", "v4", f"{from_type}/{object_id}/associations/{to_type}")

    email_events: ClassVar[str] = "/email/public/v1/events"
    campaigns_by_id: ClassVar[str] = "/email/public/v1/campaigns/by-id"

    @staticmethod
    def campaign(campaign_id: int | str) -> str:
        return f"/email/public/v1/campaigns/{campaign_id}"


_TYPE_IDS = {"0-1": "contacts", "0-2": "companies", "0-3": "deals"}
_CRM_PATH = re.compile(
    r"^/crm/(?:v\d+/(?P<api1>\w+)|(?P<api2>\w+)/\d{4}-\d{2}(?:-beta)?)/(?P<type>[\w-]+)")


def required_scopes(path: str) -> list[str]:
    """The scopes HubSpot wants for `path` (read access), used when a 403 does not name them."""
    if path.startswith("/email/public/v1/"):
        return ["content"]
    match = _CRM_PATH.match(path)
    if match is None:
        return []
    api = match["api1"] or match["api2"]
    object_type = _TYPE_IDS.get(match["type"], match["type"])
    if api == "properties":
        return [f"crm.schemas.{object_type}.read"]
    return [f"crm.objects.{object_type}.read"]  # objects, search, associations, pipelines
