"""The two contact calls the sync makes: batch read and batch update of its own properties.

Both go through the shared `HubSpotClient`, so the sync obeys the same API budget as the
extraction (the tier's 10-second window), retries 429s, 5xx and dropped connections with
back-off, and stops cleanly at the daily limit. A batch update sets absolute values, so a retry
after a lost answer is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubseg.api import HubSpotClient
from reverse_etl.scopes import CONTACTS_READ, CONTACTS_WRITE, needing
from reverse_etl.values import OwnedNames, OwnedValues

OBJECT_TYPE = "contacts"


@dataclass(frozen=True)
class InputError:
    """One `errors[]` entry of a 207 answer, with the input ids it names."""

    category: str
    message: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class BatchAnswer:
    """A 2xx answer to a batch update: the ids HubSpot returned, and per-input errors (207)."""

    result_ids: frozenset[str]
    errors: tuple[InputError, ...]


def named_ids(context: Any) -> tuple[str, ...]:
    """The ids an error's `context` names (`ids` in batch errors, `id` in single ones)."""
    if not isinstance(context, Mapping):
        return ()
    ids = context.get("ids") or context.get("id") or []
    return tuple(str(i) for i in ids) if isinstance(ids, list) else ()


class ContactsApi:
    def __init__(self, client: HubSpotClient, names: OwnedNames) -> None:
        self.client = client
        self.names = names
        self.read_path = client.paths.batch_read(OBJECT_TYPE)
        self.update_path = f"{client.paths.objects(OBJECT_TYPE)}/batch/update"

    def read(self, ids: Sequence[str]) -> dict[str, OwnedValues | None]:
        """Current values of our two properties; None for a contact HubSpot does not return
        (deleted, or merged into another id: writing to it would change the survivor)."""
        body = {"inputs": [{"id": i} for i in ids], "properties": list(self.names.properties),
                "propertiesWithHistory": []}
        with needing(CONTACTS_READ):
            answer = self.client.post(self.read_path, body, resource="sync: read contacts")
        found = {str(r.get("id")): self.names.parse(r.get("properties"))
                 for r in (answer or {}).get("results") or []}
        return {i: found.get(i) for i in ids}

    def update(self, rows: Mapping[str, OwnedValues]) -> BatchAnswer:
        """One batch update (at most 100 inputs); a refused batch raises RequestRejected."""
        body = {"inputs": [{"id": cid, "properties": self.names.payload(values)}
                           for cid, values in rows.items()]}
        with needing(CONTACTS_WRITE):
            answer = self.client.post(self.update_path, body, resource="sync: batch update")
        answer = answer or {}
        errors = tuple(
            InputError(str(e.get("category") or ""), str(e.get("message") or ""),
                       named_ids(e.get("context")))
            for e in answer.get("errors") or [] if isinstance(e, Mapping))
        return BatchAnswer(frozenset(str(r.get("id")) for r in answer.get("results") or []),
                           errors)
