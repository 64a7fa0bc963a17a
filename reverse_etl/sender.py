"""Send one batch and attribute HubSpot's answer to each contact in it.

- 200: every input was applied.
- 207: `results` are applied; each `errors[]` entry names the inputs it refuses
  (`context.ids`); an input in neither is refused with a note and retried next run.
- A whole-batch 4xx (HubSpot validates a batch before writing any of it): the inputs the error
  names are split off from the rest, or else the batch is halved, and each part is sent again,
  down to single inputs. One bad row costs about 2·log2(batch) extra requests and never blocks
  the others; a single input's refusal is its own error.

Not found (deleted, or merged away) is told apart from a refusal, because it must not be
retried. Transient failures never reach this module: the shared client retries them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from hubseg.api import RequestRejected
from reverse_etl.contacts_api import BatchAnswer, ContactsApi, named_ids
from reverse_etl.values import OwnedValues

_NOT_FOUND = re.compile(r"not exist|not found|deleted", re.IGNORECASE)
_INVALID_OPTION = re.compile(r"(\S+?) was not one of the allowed options")


class RowOutcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class RowResult:
    outcome: RowOutcome
    error: str | None = None


ACCEPTED = RowResult(RowOutcome.ACCEPTED)


def _problems(message: str) -> list[dict[str, object]]:
    """The JSON list in `Property values were not valid: [...]`, if the message holds one."""
    start = message.find("[")
    try:
        parsed = json.loads(message[start:]) if start >= 0 else []
    except ValueError:
        return []
    return [p for p in parsed if isinstance(p, dict)] if isinstance(parsed, list) else []


def describe_invalid_option(message: str) -> str | None:
    """An actionable text for HubSpot's INVALID_OPTION, naming the key; None if not one."""
    if "INVALID_OPTION" not in message and not _INVALID_OPTION.search(message):
        return None
    problems = [p for p in _problems(message) if p.get("error") == "INVALID_OPTION"]
    texts = [str(p.get("message", "")) for p in problems] or [message]
    keys = sorted({m.group(1) for text in texts for m in _INVALID_OPTION.finditer(text)})
    prop = next((str(p["name"]) for p in problems if p.get("name")), "a hubseg property")
    named = ", ".join(repr(k) for k in keys) or "(unnamed)"
    return (f"HubSpot refused segment key {named} for {prop}: not one of its options "
            "(INVALID_OPTION). The sync adds every key of the segments mart as an option "
            "before writing, so the sync model holds a key the segments mart does not declare, "
            "or the options were edited in HubSpot meanwhile: run `dbt build`, then "
            "`hubseg sync` again.")


def classify(status: int, category: str, message: str) -> RowResult:
    """What a refusal of a single input means for that contact."""
    invalid = describe_invalid_option(message)
    if invalid is not None:
        return RowResult(RowOutcome.REFUSED, invalid)
    if status == 404 or category == "OBJECT_NOT_FOUND" or _NOT_FOUND.search(message):
        return RowResult(RowOutcome.NOT_FOUND,
                         f"HubSpot has no such contact (deleted or merged): {message}")
    detail = f"{status} {category}".strip()
    return RowResult(RowOutcome.REFUSED, f"HubSpot refused the update ({detail}): {message}")


class Sender:
    def __init__(self, api: ContactsApi) -> None:
        self.api = api

    def send(self, rows: Mapping[str, OwnedValues]) -> dict[str, RowResult]:
        """Write `rows` (contact id → values; ≤ batch size); every id gets a result."""
        try:
            answer = self.api.update(rows)
        except RequestRejected as exc:
            return self._split(rows, exc)
        return self._attribute(rows, answer)

    def _split(self, rows: Mapping[str, OwnedValues], exc: RequestRejected
               ) -> dict[str, RowResult]:
        ids = list(rows)
        if len(ids) == 1:
            message = str(exc.body.get("message") or exc)
            return {ids[0]: classify(exc.status, str(exc.body.get("category") or ""), message)}
        named = [i for i in named_ids(exc.body.get("context")) if i in rows]
        if named and len(named) < len(ids):
            parts = [[i for i in ids if i not in set(named)], named]
        else:
            middle = len(ids) // 2
            parts = [ids[:middle], ids[middle:]]
        results: dict[str, RowResult] = {}
        for part in parts:
            results.update(self.send({i: rows[i] for i in part}))
        return results

    @staticmethod
    def _attribute(rows: Mapping[str, OwnedValues], answer: BatchAnswer
                   ) -> dict[str, RowResult]:
        results = {i: ACCEPTED for i in rows if i in answer.result_ids}
        for error in answer.errors:
            for i in error.ids:
                if i in rows and i not in results:
                    results[i] = classify(207, error.category, error.message)
        # A full success may report a merged id under its survivor's id: all were applied.
        unattributed = (ACCEPTED if not answer.errors else RowResult(
            RowOutcome.REFUSED, "HubSpot answered 207 with neither a result nor an error for "
                                "this contact; it is retried next run"))
        return {i: results.get(i, unattributed) for i in rows}
