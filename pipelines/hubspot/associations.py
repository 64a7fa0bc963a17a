"""Contact↔deal and contact↔company associations as one snapshot row per contact.

A snapshot is `{contact_id, deals: [{deal_id}], companies: [{company_id, is_primary}]}`,
merged on `contact_id`. dlt turns the two lists into the child tables
`contact_associations__deals` and `contact_associations__companies` and replaces a contact's
child rows whenever its snapshot is merged again, so an association removed in HubSpot
disappears at the next run that snapshots the contact. Archived contacts get an empty snapshot
(HubSpot hides their associations).

Where snapshots come from:

- full load: the contacts list carries them inline (`associations=deals,companies`), at no
  extra request; an inline list that has its own paging is completed through the v4 API;
- incremental: v4 `batch/read` (100 contacts per request and target type) for the contacts
  that changed, and for the contacts associated with deals or companies that changed or were
  archived, since an association change may touch only the other side.

Each contact is snapshotted at most once per run (`RunContext.claim_contacts`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import dlt

from pipelines.hubspot.context import RunContext
from pipelines.hubspot.settings import (
    ASSOCIATION_TARGETS,
    ASSOCIATIONS_TABLE,
    PRIMARY_COMPANY_TYPE_ID,
    V3_TYPE_IDS,
)

TABLE = ASSOCIATIONS_TABLE
TARGETS = ASSOCIATION_TARGETS
# target id → the association type ids linking it (several: primary and unlabeled, labels)
Targets = dict[str, set[int]]


def snapshot(contact_id: str, targets: dict[str, Targets]) -> dict[str, Any]:
    deals = targets.get("deals", {})
    companies = targets.get("companies", {})
    return {
        "contact_id": contact_id,
        "deals": [{"deal_id": d} for d in sorted(deals, key=int)],
        "companies": [{"company_id": c, "is_primary": PRIMARY_COMPANY_TYPE_ID in kinds}
                      for c, kinds in sorted(companies.items(), key=lambda kv: int(kv[0]))],
    }


def empty(contact_ids: Iterable[str]) -> list[dict[str, Any]]:
    return [snapshot(cid, {}) for cid in contact_ids]


def as_snapshot_items(snapshots: list[dict[str, Any]]) -> Any:
    """Route snapshot rows to their own merged table from whichever resource produced them."""
    return dlt.mark.with_hints(
        snapshots,
        dlt.mark.make_hints(table_name=TABLE, write_disposition="merge",
                            primary_key="contact_id",
                            columns={"contact_id": {"data_type": "text", "nullable": False}}),
        create_table_variant=True,
    )


# -- full load: inline lists -------------------------------------------------------------------

def from_inline(ctx: RunContext, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Snapshots from the `associations` member of live contacts listed with them."""
    claimed = set(ctx.claim_contacts(str(r["id"]) for r in records))
    out: list[dict[str, Any]] = []
    for record in records:
        contact_id = str(record["id"])
        if contact_id not in claimed:
            continue
        inline = record.get("associations") or {}
        targets: dict[str, Targets] = {}
        for to_type in TARGETS:
            entry = inline.get(to_type) or {}
            if (entry.get("paging") or {}).get("next"):
                targets[to_type] = list_all(ctx, contact_id, to_type)
            else:
                targets[to_type] = _from_v3(entry.get("results") or [])
        out.append(snapshot(contact_id, targets))
    return out


def _from_v3(results: list[dict[str, Any]]) -> Targets:
    targets: Targets = defaultdict(set)
    for item in results:
        kind = V3_TYPE_IDS.get(str(item.get("type")))
        targets[str(item["id"])].update([kind] if kind is not None else [])
    return dict(targets)


def list_all(ctx: RunContext, contact_id: str, to_type: str) -> Targets:
    """Every target of one contact through the v4 list (500 per page)."""
    targets: Targets = defaultdict(set)
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if after:
            params["after"] = after
        body = ctx.client.get(ctx.client.paths.associations("contacts", contact_id, to_type),
                              params, resource=TABLE)
        for item in body.get("results") or []:
            _add_v4_target(targets, item)
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return dict(targets)


def _add_v4_target(targets: Targets, item: dict[str, Any]) -> None:
    kinds = {int(t["typeId"]) for t in item.get("associationTypes") or [] if "typeId" in t}
    targets[str(item["toObjectId"])].update(kinds)


# -- incremental: batch reads ------------------------------------------------------------------

def batch_targets(ctx: RunContext, from_type: str, to_type: str, ids: list[str]
                  ) -> dict[str, Targets]:
    """For each id, its targets, via v4 `batch/read` (inputs with their own paging re-queued).

    Inputs without associations come back as 207 error entries; they simply have no targets.
    """
    out: dict[str, Targets] = defaultdict(lambda: defaultdict(set))
    size = ctx.settings.association_batch_size
    queue: list[dict[str, str]] = [{"id": i} for i in ids]
    while queue:
        batch, queue = queue[:size], queue[size:]
        body = ctx.client.post(ctx.client.paths.association_batch_read(from_type, to_type),
                               {"inputs": batch}, resource=TABLE)
        for result in (body or {}).get("results") or []:
            from_id = str(result["from"]["id"])
            for item in result.get("to") or []:
                _add_v4_target(out[from_id], item)
            after = ((result.get("paging") or {}).get("next") or {}).get("after")
            if after:
                queue.append({"id": from_id, "after": after})
    return out


def fetch(ctx: RunContext, contact_ids: list[str]) -> list[dict[str, Any]]:
    """Fresh snapshots of `contact_ids` (already claimed by the caller)."""
    if not contact_ids:
        return []
    targets: dict[str, dict[str, Targets]] = {cid: {} for cid in contact_ids}
    for to_type in TARGETS:
        for contact_id, found in batch_targets(ctx, "contacts", to_type, contact_ids).items():
            # An id not asked for (a merged-away input answered under its survivor's id, say)
            # would get a snapshot holding one target type only: the other would be wiped.
            if contact_id in targets:
                targets[contact_id][to_type] = dict(found)
    return [snapshot(cid, t) for cid, t in targets.items()]


def contacts_of(ctx: RunContext, from_type: str, ids: list[str]) -> list[str]:
    """The contacts associated with these deals or companies (archived ones included)."""
    found = batch_targets(ctx, from_type, "contacts", ids)
    return sorted({cid for targets in found.values() for cid in targets}, key=int)
