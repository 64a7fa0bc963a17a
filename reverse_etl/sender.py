"""Send one batch and attribute HubSpot's answer to each contact in it.

- 200: every input was applied.
- 207: `results` are applied; each `errors[]` entry names the inputs it refuses
  (`context.ids`); an input in neither is refused with a note and retried next run.
- A whole-batch 4xx (HubSpot validates a batch before writing any of it): the inputs the error
  names are split off from the rest, or else the batch is halved, and each part is sent again,
  down to single inputs. One bad row costs about 2·log2(batch) extra requests and never blocks
  the others; a single input's refusal is its own error.

A missing property (PROPERTY_DOESNT_EXIST) refuses every input alike: the batch is refused
whole, not split.

Not found (deleted, or merged away) is told apart from a refusal, because it must not be
retried. HubSpot's wording for a missing record is not documented, so a refusal that names no
property problem is checked with a batch read: a contact HubSpot no longer has is not found.
A 200 that leaves inputs out merged them away: HubSpot wrote their values onto the
surviving records, which it returned under their own ids. Those ids come back `unsettled`
(what HubSpot now holds there is not known): the run leaves them in flight, so the next run
reads them back instead of trusting a value it did not write.
Transient failures never reach this module: the shared client retries them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from hubseg.api import HubSpotApiError, RequestRejected
from reverse_etl.contacts_api import BatchAnswer, ContactsApi, named_ids
from reverse_etl.values import OwnedValues

_NOT_FOUND = re.compile(r"not exist|not found|deleted", re.IGNORECASE)
_INVALID_OPTION = re.compile(r"(\S+?) was not one of the allowed options")


class RowOutcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    NOT_FOUND = "not_found"
    UNSETTLED = "unsettled"  # a merged input's survivor: read it back, trust nothing


@dataclass(frozen=True)
class RowResult:
    outcome: RowOutcome
    error: str | None = None
    error_is_property_problem: bool = False  # refused for a value or property, not the contact


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


def describe_missing_property(message: str) -> str | None:
    """An actionable text for HubSpot's PROPERTY_DOESNT_EXIST; None if not one. It refuses
    every row alike, so it is no reason to split a batch or to think a contact is gone."""
    names = sorted({str(p.get("name") or "") for p in _problems(message)
                    if p.get("error") == "PROPERTY_DOESNT_EXIST"})
    if not names:
        return None
    return (f"HubSpot has no property {', '.join(repr(n) for n in names)} (deleted while the "
            "sync ran?): the rows are retried next run, which creates the property again "
            "before writing.")


def classify(status: int, category: str, message: str) -> RowResult:
    """What a refusal of a single input means for that contact."""
    invalid = describe_invalid_option(message) or describe_missing_property(message)
    if invalid is not None:
        return RowResult(RowOutcome.REFUSED, invalid, error_is_property_problem=True)
    # A property value problem ("Property values were not valid: [...]") is never a missing
    # contact, whatever its text says ("… does not exist" names a property).
    value_problem = bool(_problems(message))
    gone = not value_problem and _NOT_FOUND.search(message)
    if status == 404 or category == "OBJECT_NOT_FOUND" or gone:
        return RowResult(RowOutcome.NOT_FOUND,
                         f"HubSpot has no such contact (deleted or merged): {message}")
    detail = f"{status} {category}".strip()
    return RowResult(RowOutcome.REFUSED, f"HubSpot refused the update ({detail}): {message}",
                     error_is_property_problem=value_problem)


class Sender:
    def __init__(self, api: ContactsApi) -> None:
        self.api = api

    def send(self, rows: Mapping[str, OwnedValues]) -> dict[str, RowResult]:
        """Write `rows` (contact id → values; ≤ batch size); every id gets a result, and a
        survivor of a merged input that is not in `rows` gets one too (`unsettled`)."""
        return self._confirm_refusals(self._send(rows))

    def _send(self, rows: Mapping[str, OwnedValues]) -> dict[str, RowResult]:
        try:
            answer = self.api.update(rows)
        except RequestRejected as exc:
            return self._split(rows, exc)
        return self._attribute(rows, answer)

    def _confirm_refusals(self, results: dict[str, RowResult]) -> dict[str, RowResult]:
        """Refusals that name no property problem, looked up: HubSpot's wording for a missing
        record is not documented, and a contact it no longer has must not be retried (nor
        dead-lettered as a bad row). One batch read for all of them; found ones stay refused."""
        unexplained = [i for i, r in results.items() if r.outcome is RowOutcome.REFUSED
                       and not r.error_is_property_problem]
        if not unexplained:
            return results
        try:
            found = self.api.read(unexplained)
        except HubSpotApiError:  # the batch's results stand (it was applied); refusals retry
            return results
        gone = RowResult(RowOutcome.NOT_FOUND,
                         "HubSpot has no such contact (deleted or merged): refused, then not "
                         "found when read")
        return results | {i: gone for i in unexplained if found.get(i) is None}

    def _split(self, rows: Mapping[str, OwnedValues], exc: RequestRejected
               ) -> dict[str, RowResult]:
        ids = list(rows)
        message = str(exc.body.get("message") or exc)
        if len(ids) == 1 or describe_missing_property(message):
            refusal = classify(exc.status, str(exc.body.get("category") or ""), message)
            return dict.fromkeys(ids, refusal)
        named = [i for i in named_ids(exc.body.get("context")) if i in rows]
        if named and len(named) < len(ids):
            parts = [[i for i in ids if i not in set(named)], named]
        else:
            middle = len(ids) // 2
            parts = [ids[:middle], ids[middle:]]
        results: dict[str, RowResult] = {}
        for part in parts:
            results.update(self._send({i: rows[i] for i in part}))
        return results

    @staticmethod
    def _attribute(rows: Mapping[str, OwnedValues], answer: BatchAnswer
                   ) -> dict[str, RowResult]:
        refused: dict[str, RowResult] = {}
        for error in answer.errors:
            for i in error.ids:
                if i in rows and i not in answer.result_ids and i not in refused:
                    refused[i] = classify(207, error.category, error.message)
        unanswered = set(rows) - answer.result_ids - set(refused)
        # An answer under an id nobody sent is a survivor of a merged input (200 or 207).
        if unanswered and (not answer.errors or answer.result_ids - set(rows)):
            return Sender._merged({i: rows[i] for i in rows if i not in refused},
                                  answer) | refused
        unattributed = RowResult(
            RowOutcome.REFUSED, "HubSpot answered 207 with neither a result nor an error for "
                                "this contact; it is retried next run")
        return {i: ACCEPTED if i in answer.result_ids else refused.get(i, unattributed)
                for i in rows}

    @staticmethod
    def _merged(rows: Mapping[str, OwnedValues], answer: BatchAnswer
                ) -> dict[str, RowResult]:
        """An answer (200 or 207) without some inputs: they were merged away, and HubSpot
        applied their values to survivors it cannot tell apart among the ids it returned (in
        this batch or not)."""
        gone = RowResult(RowOutcome.NOT_FOUND, "merged into another contact in HubSpot, which "
                                               "received these values; it is read back next run")
        unsettled = RowResult(RowOutcome.UNSETTLED)
        return {i: gone for i in rows if i not in answer.result_ids} | dict.fromkeys(
            answer.result_ids, unsettled)
