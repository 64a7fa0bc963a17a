"""The two contact properties hubseg owns, as one value in one canonical form.

Everything the sync compares (the model, its state, what it reads back from HubSpot) goes
through `OwnedValues.of`, so `b;a`, `a;b;` and `a;a;b` are the same value and a difference in
spelling is never mistaken for a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubseg.config import SyncSettings


def canonical_segments(raw: str | None) -> str:
    """Segment keys sorted, distinct and `;`-joined (HubSpot's multi-checkbox format)."""
    if not raw:
        return ""
    return ";".join(sorted({part.strip() for part in raw.split(";") if part.strip()}))


def canonical_segments_sql(column: str) -> str:
    """`canonical_segments` as a DuckDB expression, so a million model rows are put in
    canonical form by the warehouse, not one by one in Python (test_sync_rules checks that
    both agree)."""
    keys = (f"list_filter(list_transform(string_split({column}, ';'), lambda k: trim(k)), "
            f"lambda k: k <> '')")
    return f"coalesce(array_to_string(list_sort(list_distinct({keys})), ';'), '')"


@dataclass(frozen=True, slots=True)
class OwnedValues:
    """A contact's segment keys and primary segment; `""` means none (a cleared property)."""

    segments: str = ""
    primary: str = ""

    @classmethod
    def of(cls, segments: str | None, primary: str | None) -> OwnedValues:
        return cls(canonical_segments(segments), (primary or "").strip())

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self.segments.split(";")) if self.segments else frozenset()

    @property
    def empty(self) -> bool:
        return not self.segments and not self.primary

    def describe(self) -> str:
        """For the terminal: `a;b (primary a)`, or `(none)`."""
        if self.empty:
            return "(none)"
        return f"{self.segments or '(no segments)'} (primary {self.primary or 'none'})"


EMPTY = OwnedValues()


@dataclass(frozen=True)
class OwnedNames:
    """The HubSpot names the sync owns: a property group and two contact properties."""

    group: str
    segments: str
    primary: str

    @classmethod
    def from_settings(cls, settings: SyncSettings) -> OwnedNames:
        return cls(settings.group_name, settings.segments_property, settings.primary_property)

    @property
    def properties(self) -> tuple[str, str]:
        return (self.segments, self.primary)

    def payload(self, values: OwnedValues) -> dict[str, str]:
        """The `properties` of a batch-update input: exactly our two names, `""` clears."""
        return {self.segments: values.segments, self.primary: values.primary}

    def parse(self, properties: Mapping[str, Any] | None) -> OwnedValues:
        """Our two values out of a HubSpot record's `properties` (missing or null is empty)."""
        properties = properties or {}
        return OwnedValues.of(properties.get(self.segments), properties.get(self.primary))
