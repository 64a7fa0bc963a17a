"""Associations: HubSpot's type catalogue, v4 reads, the v3 inline lists, and linking on create.

The `associations` table stores both directions of every pair (a contact→deal row and its
deal→contact twin), so a read never has to flip a row. Rows pointing at archived records stay in
the table but are hidden by a join on `objects`, as HubSpot hides them.

Routes:
- `GET /crm/v4/objects/{from}/{id}/associations/{to}` (+ DBV alias): one record's associations,
  grouped by target id, `limit` ≤ 500, cursor paging.
- `POST /crm/v4/associations/{from}/{to}/batch/read` (+ DBV alias): for each input id its
  targets. An input with no associations becomes an error entry with subCategory
  `crm.associations.NO_ASSOCIATIONS_FOUND` and the answer is **207** (observed in public client
  code that treats exactly this case as "zero associations"), even when every input is such.
- `GET /crm/v3/objects/{from}/{id}/associations/{to}`: the v3 list that `paging.next.link` of a
  record's inline `associations` points at (records inline at most
  `limits.inline_associations_max` ids per type, HubSpot's 100).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute

from sandbox.server import errors
from sandbox.server import objects_repo as repo
from sandbox.server.errors import HubSpotError
from sandbox.server.http import DBV_VERSION, Ctx, hubspot_route, json_response, object_type
from sandbox.store import portal_now_ms

SINGULAR: dict[str, str] = {"contacts": "contact", "companies": "company", "deals": "deal"}


@dataclass(frozen=True)
class AssociationType:
    """One HUBSPOT_DEFINED association type (hubspot-api.md §4)."""

    type_id: int
    from_type: str
    to_type: str
    name: str  # the v3 `type` text, e.g. contact_to_deal
    label: str | None
    inverse: int


def _pair(a: tuple[int, str, str, str, str | None], b: tuple[int, str, str, str, str | None]
          ) -> list[AssociationType]:
    return [AssociationType(*a, inverse=b[0]), AssociationType(*b, inverse=a[0])]


CATALOGUE: dict[int, AssociationType] = {
    t.type_id: t
    for t in (
        *_pair((1, "contacts", "companies", "contact_to_company", "Primary"),
               (2, "companies", "contacts", "company_to_contact", "Primary")),
        *_pair((279, "contacts", "companies", "contact_to_company_unlabeled", None),
               (280, "companies", "contacts", "company_to_contact_unlabeled", None)),
        *_pair((4, "contacts", "deals", "contact_to_deal", None),
               (3, "deals", "contacts", "deal_to_contact", None)),
        *_pair((5, "deals", "companies", "deal_to_company", "Primary"),
               (6, "companies", "deals", "company_to_deal", "Primary")),
        *_pair((341, "deals", "companies", "deal_to_company_unlabeled", None),
               (342, "companies", "deals", "company_to_deal_unlabeled", None)),
    )
}


# A primary association type (one per record: its primary company) → the unlabeled type of the
# same pair of objects.
UNLABELED_OF_PRIMARY: dict[int, int] = {1: 279, 5: 341}


def v3_type_name(from_type: str, to_type: str, type_id: int) -> str:
    known = CATALOGUE.get(type_id)
    if known is not None:
        return known.name
    return f"{SINGULAR[from_type]}_to_{SINGULAR[to_type]}"  # a user-defined label's pair


# -- writing ------------------------------------------------------------------------------------
def link(con: sqlite3.Connection, from_type: str, from_id: int, to_id: int, type_id: int,
         category: str = "HUBSPOT_DEFINED") -> None:
    """Store one association and its inverse; the target must be a live record."""
    kind = CATALOGUE.get(type_id)
    if category != "HUBSPOT_DEFINED" or kind is None or kind.from_type != from_type:
        raise errors.validation(
            f"Invalid association type {category}/{type_id} from {from_type}",
            context={"associationTypeId": [str(type_id)]})
    exists = con.execute("select 1 from objects where object_type = ? and id = ? and archived = 0",
                         (kind.to_type, to_id)).fetchone()
    if exists is None:
        raise errors.validation(f"{SINGULAR[kind.to_type].capitalize()} {to_id} does not exist "
                                "and cannot be associated", context={"id": [str(to_id)]})
    inverse = CATALOGUE[kind.inverse]
    con.executemany(
        "insert or ignore into associations (from_type, from_id, to_type, to_id, type_id, "
        "category, label) values (?, ?, ?, ?, ?, ?, ?)",
        [(from_type, from_id, kind.to_type, to_id, type_id, category, kind.label),
         (kind.to_type, to_id, from_type, from_id, inverse.type_id, category, inverse.label)],
    )


def merge_into(con: sqlite3.Connection, object_type: str, other_id: int, primary_id: int) -> None:
    """Give a merged record's associations (both directions of each pair) to its survivor.

    A record has one primary company: when the survivor has one, the other's primary
    associations are kept as unlabeled ones [inferred]. A pair the survivor already has is not
    duplicated (`or ignore` leaves the other's copy, deleted at the end).
    """
    for kind in CATALOGUE.values():
        unlabeled = UNLABELED_OF_PRIMARY.get(kind.type_id)
        if kind.from_type != object_type or unlabeled is None or con.execute(
                "select 1 from associations where from_type = ? and from_id = ? "
                "and type_id = ?", (object_type, primary_id, kind.type_id)).fetchone() is None:
            continue
        for side, type_id, new_type in (("from", kind.type_id, unlabeled),
                                        ("to", kind.inverse, CATALOGUE[unlabeled].inverse)):
            con.execute(
                f"update or ignore associations set type_id = ?, label = ? "
                f"where {side}_type = ? and {side}_id = ? and type_id = ?",
                (new_type, CATALOGUE[new_type].label, object_type, other_id, type_id))
    for side in ("from", "to"):
        con.execute(f"update or ignore associations set {side}_id = ? "
                    f"where {side}_type = ? and {side}_id = ?", (primary_id, object_type, other_id))
    con.execute("delete from associations where (from_type = ? and from_id = ?) "
                "or (to_type = ? and to_id = ?)", (object_type, other_id, object_type, other_id))


# -- reading --------------------------------------------------------------------------------------
_LIVE_TARGETS = (
    "from associations a join objects o on o.object_type = a.to_type and o.id = a.to_id "
    "and o.archived = 0 where a.from_type = ? and a.to_type = ?"
)


def v4_page(con: sqlite3.Connection, from_type: str, from_id: int, to_type: str,
            after: int | None, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """One page of targets (`limit` distinct target ids from `after` on) and the next cursor."""
    rows = con.execute(
        "select to_id, type_id, category, label from ("
        "  select a.to_id, a.type_id, a.category, a.label,"
        "         dense_rank() over (order by a.to_id) as rank "
        f" {_LIVE_TARGETS} and a.from_id = ? and a.to_id >= ?"
        ") where rank <= ? order by to_id, type_id",
        (from_type, to_type, from_id, after or 0, limit + 1),
    ).fetchall()
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for to_id, type_id, category, label in rows:
        grouped[to_id].append({"category": category, "typeId": type_id, "label": label})
    targets = list(grouped.items())
    next_id = targets[limit][0] if len(targets) > limit else None
    return [{"toObjectId": to_id, "associationTypes": kinds}
            for to_id, kinds in targets[:limit]], next_id


def v3_pages(con: sqlite3.Connection, from_type: str, from_ids: list[int], to_type: str,
             limit: int, after: tuple[int, int] | None = None
             ) -> dict[int, tuple[list[dict[str, str]], tuple[int, int] | None]]:
    """For each source id, up to `limit` `{id, type}` entries and the (to_id, type_id) cursor of
    the next entry, if any. One query for a whole page of records (a window per source)."""
    if not from_ids:
        return {}
    marks = ",".join("?" * len(from_ids))
    start = after or (0, 0)
    rows = con.execute(
        "select from_id, to_id, type_id from ("
        "  select a.from_id, a.to_id, a.type_id, row_number() over ("
        "      partition by a.from_id order by a.to_id, a.type_id) as n "
        f" {_LIVE_TARGETS} and a.from_id in ({marks}) and (a.to_id, a.type_id) >= (?, ?)"
        ") where n <= ? order by from_id, to_id, type_id",
        (from_type, to_type, *from_ids, *start, limit + 1),
    ).fetchall()
    out: dict[int, tuple[list[dict[str, str]], tuple[int, int] | None]] = {}
    by_source: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for from_id, to_id, type_id in rows:
        by_source[from_id].append((to_id, type_id))
    for from_id, entries in by_source.items():
        page = [{"id": str(to_id), "type": v3_type_name(from_type, to_type, type_id)}
                for to_id, type_id in entries[:limit]]
        out[from_id] = (page, entries[limit] if len(entries) > limit else None)
    return out


def inline(con: sqlite3.Connection, ctx: Ctx, from_type: str, from_ids: list[int],
           to_types: list[str]) -> dict[int, dict[str, Any]]:
    """The v3 `associations` member of each record: `{to_type: {results, paging?}}`."""
    limit = ctx.state.settings.limits.inline_associations_max
    out: dict[int, dict[str, Any]] = {}
    for to_type in to_types:
        for from_id, (page, nxt) in v3_pages(con, from_type, from_ids, to_type, limit).items():
            entry: dict[str, Any] = {"results": page}
            if nxt is not None:
                cursor = repo.encode_cursor(*nxt)
                link_url = (f"{ctx.base_url}/crm/v3/objects/{from_type}/{from_id}/associations/"
                            f"{to_type}?after={cursor}")
                entry["paging"] = {"next": {"after": cursor, "link": link_url}}
            out.setdefault(from_id, {})[to_type] = entry
    return out


def association_types_param(raw: list[str]) -> list[str]:
    """`associations=deals,0-2,tickets` → known types in order; unknown names are ignored."""
    out: list[str] = []
    for name in raw:
        try:
            kind = object_type(name)
        except HubSpotError:
            continue
        if kind not in out:
            out.append(kind)
    return out


# -- handlers -------------------------------------------------------------------------------------
def _types(ctx: Ctx, from_key: str, to_key: str) -> tuple[str, str]:
    from_type, to_type = object_type(ctx.path[from_key]), object_type(ctx.path[to_key])
    ctx.require_scope(f"crm.objects.{from_type}.read")
    return from_type, to_type


def _object_id(raw: str) -> int:
    if not raw.isdigit():
        raise errors.validation(f"id must be numeric: {raw}", context={"id": [raw]})
    return int(raw)


def get_v4(ctx: Ctx) -> dict[str, Any]:
    from_type, to_type = _types(ctx, "object_type", "to_object_type")
    from_id = _object_id(ctx.path["object_id"])
    limits = ctx.state.settings.limits
    limit = repo.limit_param(ctx, limits.association_default, limits.association_max)
    after = repo.after_param(ctx, 1)
    results, nxt = v4_page(ctx.con(), from_type, from_id, to_type, after[0] if after else None,
                           limit)
    body: dict[str, Any] = {"results": results}
    if nxt is not None:
        body["paging"] = repo.next_page(ctx, repo.encode_cursor(nxt))
    return body


def get_v3(ctx: Ctx) -> dict[str, Any]:
    from_type, to_type = _types(ctx, "object_type", "to_object_type")
    from_id = _object_id(ctx.path["object_id"])
    limits = ctx.state.settings.limits
    limit = repo.limit_param(ctx, limits.association_default, limits.association_max)
    after = repo.after_param(ctx, 2)
    pages = v3_pages(ctx.con(), from_type, [from_id], to_type, limit,
                     (after[0], after[1]) if after else None)
    results, nxt = pages.get(from_id, ([], None))
    body: dict[str, Any] = {"results": results}
    if nxt is not None:
        body["paging"] = repo.next_page(ctx, repo.encode_cursor(*nxt))
    return body


def _no_associations(from_type: str, to_type: str, from_id: str) -> dict[str, Any]:
    error = repo.standard_error(
        "OBJECT_NOT_FOUND",
        f"No {SINGULAR[to_type]} is associated with {SINGULAR[from_type]} {from_id}.",
        {"fromObjectId": [from_id], "fromObjectType": [SINGULAR[from_type]],
         "toObjectType": [SINGULAR[to_type]]})
    return {**error, "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"}


def batch_read(ctx: Ctx) -> Any:
    from_type, to_type = _types(ctx, "from_object_type", "to_object_type")
    limits = ctx.state.settings.limits
    inputs = repo.batch_inputs(ctx.body_dict(), limits.association_batch_max)
    con = ctx.con()
    started = portal_now_ms(con)
    results: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for item in inputs:
        raw_id = str(item.get("id", ""))
        after = repo.decode_cursor(item["after"], 1)[0] if item.get("after") else None
        targets, nxt = (v4_page(con, from_type, int(raw_id), to_type, after,
                                limits.association_max) if raw_id.isdigit() else ([], None))
        if not targets:
            failures.append(_no_associations(from_type, to_type, raw_id))
            continue
        result: dict[str, Any] = {"from": {"id": raw_id}, "to": targets}
        if nxt is not None:
            result["paging"] = {"next": {"after": repo.encode_cursor(nxt)}}
        results.append(result)
    body = repo.batch_body(con, results, started, failures)
    return json_response(body, 207) if failures else body


def routes() -> list[BaseRoute]:
    one = "{object_type}/{object_id}/associations/{to_object_type}"
    batch = "{from_object_type}/{to_object_type}/batch/read"
    return [
        *hubspot_route([f"/crm/v4/objects/{one}", f"/crm/objects/{DBV_VERSION}/{one}"], get_v4,
                       methods=["GET"]),
        *hubspot_route([f"/crm/v3/objects/{one}"], get_v3, methods=["GET"]),
        *hubspot_route([f"/crm/v4/associations/{batch}",
                        f"/crm/associations/{DBV_VERSION}/{batch}"], batch_read, methods=["POST"]),
    ]
