"""The property group and the two contact properties the sync owns, kept in step with the mart.

- `hubseg_segments`: enumeration / checkbox (multi-select), one option per segment key.
- `hubseg_primary_segment`: enumeration / select, the same options.

Both are created (with their group) when missing. On every run their options are compared
with the segments mart: new segments are added, labels, descriptions and order follow the
mart, and segments the mart no longer declares become `hidden: true` — never deleted, because
contacts may still hold them and HubSpot keeps history against them. A hidden segment that
comes back is shown again. `PATCH` replaces the whole option list, so the list sent is always
complete (hubspot-api.md §5).

Inspecting costs two GETs; nothing is written unless something differs.

These calls (at most a handful per run) stay on the shared HTTP client (`HubSpotClient`), as
the extraction's property reads do; only the contact reads and writes, the sync's volume, go
through HubSpot's SDK (`contacts_api.py`). Both draw on the one budget.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubseg.api import HubSpotClient, RequestRejected
from hubseg.config import ConfigError
from reverse_etl.scopes import SCHEMAS_WRITE, needing
from reverse_etl.values import OwnedNames
from reverse_etl.warehouse import SegmentDefinition

OBJECT_TYPE = "contacts"
RESOURCE = "sync: properties"
GROUP_LABEL = "hubseg segments"
_NOTICE = ("Written by hubseg from the warehouse's segment models; edits made in HubSpot are "
           "overwritten by the next sync.")


@dataclass(frozen=True)
class PropertySpec:
    name: str
    label: str
    field_type: str  # with type "enumeration"
    description: str


def specs(names: OwnedNames) -> tuple[PropertySpec, PropertySpec]:
    return (
        PropertySpec(names.segments, "hubseg segments", "checkbox",
                     f"Every customer segment the contact is in. {_NOTICE}"),
        PropertySpec(names.primary, "hubseg primary segment", "select",
                     f"The contact's highest-priority segment. {_NOTICE}"),
    )


Option = dict[str, Any]


def _comparable(option: Mapping[str, Any]) -> tuple[Any, ...]:
    return (str(option.get("value")), str(option.get("label")),
            str(option.get("description") or ""), int(option.get("displayOrder", 0)),
            bool(option.get("hidden", False)))


def desired_options(definitions: Sequence[SegmentDefinition],
                    current: Sequence[Mapping[str, Any]]) -> list[Option]:
    """Active segments in priority order, then every retired option kept, hidden."""
    options: list[Option] = [
        {"label": d.label, "value": d.key, "description": d.description,
         "displayOrder": order, "hidden": False}
        for order, d in enumerate(definitions)]
    active = {d.key for d in definitions}
    retired = [o for o in current if str(o.get("value")) not in active]
    for order, option in enumerate(retired, start=len(options)):
        options.append({"label": str(option.get("label") or option.get("value")),
                        "value": str(option.get("value")),
                        "description": str(option.get("description") or ""),
                        "displayOrder": order, "hidden": True})
    return options


@dataclass
class PropertyChanges:
    """What must change in HubSpot's definitions before values are written."""

    missing: list[str] = field(default_factory=list)  # properties to create
    option_lists: dict[str, list[Option]] = field(default_factory=dict)  # name → full list
    added: set[str] = field(default_factory=set)
    retired: set[str] = field(default_factory=set)
    restored: set[str] = field(default_factory=set)

    @property
    def any(self) -> bool:
        return bool(self.missing or self.option_lists)

    @property
    def write_calls(self) -> int:
        """Requests `apply` makes: the group and each missing property, each option list."""
        return (len(self.missing) + 1 if self.missing else 0) + len(self.option_lists)

    def lines(self) -> list[str]:
        """What the run does (or a dry run would do) to the definitions, for the terminal."""
        out = [f"create property {name}" for name in self.missing]
        for what, keys in (("add options", self.added), ("hide retired options", self.retired),
                           ("show again", self.restored)):
            if keys:
                out.append(f"{what}: {', '.join(sorted(keys))}")
        return out


class OwnedProperties:
    def __init__(self, client: HubSpotClient, names: OwnedNames) -> None:
        self.client = client
        self.names = names
        self.base = client.paths.properties(OBJECT_TYPE)

    def inspect(self, definitions: Sequence[SegmentDefinition]) -> PropertyChanges:
        """Compare HubSpot's definitions with the mart (reads only)."""
        changes = PropertyChanges()
        for spec in specs(self.names):
            current = self._get(spec.name)
            if current is None:
                changes.missing.append(spec.name)
                changes.added.update(d.key for d in definitions)
                continue
            self._check_kind(spec, current)
            self._diff_options(spec.name, current.get("options") or [], definitions, changes)
        return changes

    def apply(self, changes: PropertyChanges, definitions: Sequence[SegmentDefinition]) -> None:
        """Create what is missing, then replace option lists that differ."""
        with needing(SCHEMAS_WRITE):
            if changes.missing:
                self._create_group()
            for spec in specs(self.names):
                if spec.name in changes.missing:
                    self._create(spec, desired_options(definitions, []))
                elif spec.name in changes.option_lists:
                    self.client.request("PATCH", f"{self.base}/{spec.name}", resource=RESOURCE,
                                        body={"options": changes.option_lists[spec.name]})

    # -- pieces ---------------------------------------------------------------------------------
    def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.get(f"{self.base}/{name}", resource=RESOURCE)
        except RequestRejected as exc:
            if exc.status == 404:
                return None
            raise

    def _check_kind(self, spec: PropertySpec, current: Mapping[str, Any]) -> None:
        kind = (current.get("type"), current.get("fieldType"))
        if kind != ("enumeration", spec.field_type):
            raise ConfigError(
                f"the HubSpot contact property {spec.name} exists as {kind[0]}/{kind[1]}, not "
                f"enumeration/{spec.field_type}: hubseg did not create it, so it will not write "
                "to it. Rename or delete it in HubSpot, or choose other names (group_name, "
                "segments_property, primary_property under [hubseg.sync] in .dlt/config.toml)")

    @staticmethod
    def _diff_options(name: str, current: Sequence[Mapping[str, Any]],
                      definitions: Sequence[SegmentDefinition], changes: PropertyChanges) -> None:
        wanted = desired_options(definitions, current)
        if sorted(map(_comparable, wanted)) == sorted(map(_comparable, current)):
            return
        changes.option_lists[name] = wanted
        hidden_now = {str(o.get("value")) for o in current if o.get("hidden")}
        present = {str(o.get("value")) for o in current}
        active = {d.key for d in definitions}
        changes.added |= active - present
        changes.restored |= active & hidden_now
        changes.retired |= (present - active) - hidden_now

    def _create_group(self) -> None:
        body = {"name": self.names.group, "label": GROUP_LABEL, "displayOrder": -1}
        try:
            self.client.post(f"{self.base}/groups", body, resource=RESOURCE)
        except RequestRejected as exc:
            if exc.status != 409:  # 409: it exists already, which is all we need
                raise

    def _create(self, spec: PropertySpec, options: list[Option]) -> None:
        self.client.post(self.base, {
            "name": spec.name, "label": spec.label, "type": "enumeration",
            "fieldType": spec.field_type, "groupName": self.names.group,
            "description": spec.description, "options": options, "formField": False,
        }, resource=RESOURCE)
