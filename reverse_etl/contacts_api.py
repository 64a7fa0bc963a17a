"""The two contact calls the sync makes: batch read and batch update of its own properties.

Both are made by HubSpot's own SDK (hubspot-api-client: `crm.contacts.batch_api.read` and
`.update`, one SDK client per thread, pointed at the configured base URL) and run under the
shared `HubSpotClient.call`, so the sync obeys the same API budget as the extraction (the tier's
10-second window), retries 429s, 5xx and dropped connections with back-off, and stops cleanly
at the daily limit; the SDK's own retries are off. A batch update sets absolute values, so a
retry after a lost answer is harmless. The SDK's answers are mapped to plain types here: a 207's
`errors` to `InputError`s; a whole-batch 4xx arrives as `RequestRejected`, as before.

The SDK sends the requests, but its answers are parsed here, from JSON (the SDK's documented
`_preload_content=False`): its models parse every record's `createdAt` and `updatedAt` with
dateutil, which the sync never reads, and each request model copies a default configuration.
With the GIL shared by the batches in flight, that work, not HubSpot or the budget, held a
`large` sync's sends to ~18 batches a second (`bench/results/sync-notes.md`); the client's CPU
per batch update is 9.8 ms the SDK's way and 1.5 ms this way (`bench/sdk_answer_bench.py`).

The SDK (12.x) has the classic `/crm/v3/…` paths built in, so these two calls use them whatever
`api_version` is configured; HubSpot serves them until the numbered paths retire in 2027.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hubspot.crm.contacts import (
    BatchApi,
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Configuration,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)

from hubseg.api import HubSpotClient
from hubseg.api.client import Headers
from hubseg.api.sdk import SdkClients
from reverse_etl.scopes import CONTACTS_READ, CONTACTS_WRITE, needing
from reverse_etl.values import OwnedNames, OwnedValues

READ_PATH = "/crm/v3/objects/contacts/batch/read"  # the SDK's, for errors and the budget
UPDATE_PATH = "/crm/v3/objects/contacts/batch/update"

# What the SDK's request models read of a configuration: only whether to validate their fields.
# Shared, because each model otherwise builds a fresh default copy (100 per batch).
MODELS = Configuration()


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
        self.sdk = SdkClients(client.settings)

    def _batch_api(self) -> BatchApi:
        return self.sdk.api("contacts.batch", lambda hubspot: hubspot.crm.contacts.batch_api)

    def read(self, ids: Sequence[str]) -> dict[str, OwnedValues | None]:
        """Current values of our two properties; None for a contact HubSpot does not return
        (deleted, or merged into another id: writing to it would change the survivor)."""
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i, local_vars_configuration=MODELS) for i in ids],
            properties=list(self.names.properties), properties_with_history=[],
            local_vars_configuration=MODELS)
        with needing(CONTACTS_READ):
            answer = self._post(self._batch_api().read_with_http_info, body, READ_PATH,
                                "sync: read contacts")
        found = {str(r["id"]): self.names.parse(r.get("properties"))
                 for r in answer.get("results") or []}
        return {i: found.get(i) for i in ids}

    def update(self, rows: Mapping[str, OwnedValues]) -> BatchAnswer:
        """One batch update (at most 100 inputs); a refused batch raises RequestRejected."""
        body = BatchInputSimplePublicObjectBatchInput(inputs=[
            SimplePublicObjectBatchInput(id=cid, properties=self.names.payload(values),
                                         local_vars_configuration=MODELS)
            for cid, values in rows.items()], local_vars_configuration=MODELS)
        with needing(CONTACTS_WRITE):
            answer = self._post(self._batch_api().update_with_http_info, body, UPDATE_PATH,
                                "sync: batch update")
        errors = tuple(  # only a 207 (`…WithErrors`) has `errors`
            InputError(str(e.get("category") or ""), str(e.get("message") or ""),
                       named_ids(e.get("context")))
            for e in answer.get("errors") or [])
        return BatchAnswer(frozenset(str(r["id"]) for r in answer.get("results") or []), errors)

    def _post(self, call: Callable[..., Any], body: object, path: str, resource: str
              ) -> dict[str, Any]:
        """One SDK call under the shared client; its 2xx answer as parsed JSON."""
        def send() -> tuple[dict[str, Any], int, Headers]:
            response = call(body, _request_timeout=self.sdk.timeout, _preload_content=False)
            answer = json.loads(response.data or b"{}")  # reading it frees the connection
            return answer if isinstance(answer, dict) else {}, response.status, response.headers

        return self.client.call(send, method="POST", path=path, resource=resource)

    def close(self) -> None:
        self.sdk.close()
