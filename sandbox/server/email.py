"""HubSpot's legacy email analytics v1 API: email events and email campaigns (hubspot-api.md §7).

Every route needs the `content` scope. Listings page with an opaque `offset`: urlsafe base64 of
JSON holding the position of the last item served (a keyset, so a page costs the same at the
start and at the end of 20M events) and a fingerprint of the filters, because HubSpot's offset
is valid only with the query parameters it was issued for. The last page still carries an
`offset`, with `hasMore: false`.

The events page is the hot path (clients pull 1,000 events per request, over and over): SQLite
builds each event's JSON itself with `json_object`/`json_patch`, and the response is assembled
from those texts without parsing them again in Python.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute

from sandbox.server import errors
from sandbox.server.errors import HubSpotError
from sandbox.server.http import Ctx, decode_path_id, hubspot_route
from sandbox.server.objects_repo import limit_param
from sandbox.store import get_meta, loads, real_now_ms

SCOPE = "content"
JSON_MEDIA_TYPE = "application/json;charset=utf-8"

# One event as HubSpot serves it. The base fields are patched *over* the type-specific `extra`
# fields so that the columns the filters read (type, recipient, filteredEvent, …) always agree
# with the JSON; a null in the patch removes the key, so fields that do not apply (a missing
# recipient, `sentBy` on events without a send) are omitted, as HubSpot omits them.
EVENT_JSON_SQL = """
json_patch(coalesce(extra, '{}'), json_object(
    'id', id,
    'created', created,
    'type', type,
    'recipient', recipient,
    'portalId', :portal_id,
    'appId', app_id,
    'appName', app_name,
    'emailCampaignId', email_campaign_id,
    'emailCampaignGroupId', email_campaign_group_id,
    'sentBy', case when sent_by_id is not null
                   then json_object('id', sent_by_id, 'created', sent_by_created) end,
    'filteredEvent', json(case when filtered_event then 'true' else 'false' end)
))"""


# -- shared: offsets, path parameters, the envelope -----------------------------------------

def fingerprint(kind: str, filters: dict[str, Any]) -> str:
    """A short hash binding an offset to its listing and filters (not `offset` and `limit`)."""
    canonical = json.dumps([kind, filters], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_offset(binding: str, position: list[Any]) -> str:
    raw = json.dumps({"p": position, "f": binding, "t": real_now_ms()},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_offset(raw: str | None, binding: str, width: int, ttl_ms: int = 0
                  ) -> list[Any] | None:
    """The keyset position in `raw`, or None without an offset; 400 if it is not ours, or
    older than `ttl_ms` (when set).

    An offset issued for other filters (or another listing) would silently skip or repeat
    records, so it is refused like HubSpot refuses it.
    """
    if raw is None or raw == "":
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        position = data["p"]
        valid = (data["f"] == binding and isinstance(position, list) and len(position) == width
                 and all(isinstance(v, int) for v in position))
        issued = int(data.get("t", 0))
    except (ValueError, binascii.Error, TypeError, KeyError, AttributeError):
        valid, issued = False, 0
    if not valid:
        raise errors.validation(
            "offset is not valid for these query parameters: pass the offset only with the "
            "query parameters it was returned for", context={"offset": [raw]})
    if ttl_ms and real_now_ms() - issued > ttl_ms:
        raise errors.validation("offset has expired: start again without an offset",
                                context={"offset": [raw]})
    return position


def path_int(ctx: Ctx, name: str) -> int:
    """An integer path parameter, with the 400 body HubSpot's v1 API gives for anything else."""
    try:
        return int(ctx.path[name])
    except ValueError:
        raise HubSpotError(400, f"Unable to parse value for path parameter: {name}") from None


def keyset_page(key: str, rows: list[tuple[Any, ...]], limit: int, binding: str,
                after: list[int] | None, width: int) -> Response:
    """`{"<key>":[…],"hasMore":…,"offset":"…"}` from up to `limit + 1` rows.

    Each row is (item JSON text, *keyset columns). The extra row only tells whether there is
    more. The offset points past the last item served; on the last page re-using it gives an
    empty page, and a page that found nothing keeps the position it was asked for.
    """
    has_more = len(rows) > limit
    rows = rows[:limit]
    position = list(rows[-1][1:]) if rows else (after or [-1] * width)
    text = (f'{{"{key}":[{",".join(r[0] for r in rows)}],'
            f'"hasMore":{"true" if has_more else "false"},'
            f'"offset":{json.dumps(encode_offset(binding, position))}}}')
    return Response(text, media_type=JSON_MEDIA_TYPE)


def portal_id(con: sqlite3.Connection) -> int:
    return int(get_meta(con, "portal_id", "0") or 0)


# -- events -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventFilters:
    """The query parameters that select events (everything except `offset` and `limit`)."""

    app_id: int | None
    campaign_id: int | None
    recipient: str | None
    event_type: str | None
    start: int | None
    end: int | None
    exclude_filtered: bool

    @classmethod
    def from_query(cls, ctx: Ctx) -> EventFilters:
        return cls(
            app_id=ctx.qint("appId"),
            campaign_id=ctx.qint("campaignId"),
            recipient=ctx.qstr("recipient") or None,
            event_type=ctx.qstr("eventType") or None,
            start=ctx.qint("startTimestamp"),
            end=ctx.qint("endTimestamp"),
            exclude_filtered=ctx.qbool("excludeFilteredEvents"),
        )

    def fingerprint(self) -> str:
        return fingerprint("events", asdict(self))

    def index(self) -> str:
        """The index whose order already is the answer's order, after the equality filters.

        Each index ends in (created, seq): the rowid `seq` is implicitly the last column of
        every index, so `order by created desc, seq desc` never needs a sort step. `appId`,
        `eventType` and `excludeFilteredEvents` have no index of their own: alone (without a
        time window) they walk the created index, which is slow for a rare type on a huge
        portal, but fast for the types clients page through (every page finds its rows soon).
        """
        if self.campaign_id is not None:
            return "email_events_campaign"
        if self.recipient is not None:
            return "email_events_recipient"
        return "email_events_created"

    def where(self, after: list[int] | None) -> tuple[str, dict[str, Any]]:
        """SQL conditions and parameters; `after` is the keyset position to continue from."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        equal = {"app_id": self.app_id, "email_campaign_id": self.campaign_id,
                 "recipient": self.recipient, "type": self.event_type}
        for column, value in equal.items():
            if value is not None:
                clauses.append(f"{column} = :{column}")
                params[column] = value
        if self.exclude_filtered:
            clauses.append("filtered_event = 0")
        if self.start is not None:
            clauses.append("created >= :start")
            params["start"] = self.start
        upper = self.end
        if after is not None:
            # (created, seq) < position, written so that `created <= …` is an index range.
            clauses.append("(created < :after_created or seq < :after_seq)")
            params.update(after_created=after[0], after_seq=after[1])
            upper = after[0] if upper is None else min(upper, after[0])
        if upper is not None:
            clauses.append("created <= :end")
            params["end"] = upper
        return " and ".join(clauses) or "1", params


def events_page_query(filters: EventFilters, after: list[int] | None
                      ) -> tuple[str, dict[str, Any]]:
    where, params = filters.where(after)
    sql = (f"select {EVENT_JSON_SQL}, created, seq from email_events "
           f"indexed by {filters.index()} where {where} "
           "order by created desc, seq desc limit :limit")
    return sql, params


def list_events(ctx: Ctx) -> Response:
    """`GET /email/public/v1/events`: newest first, filtered, keyset-paged."""
    ctx.require_scope(SCOPE)
    limits = ctx.state.settings.limits
    limit = limit_param(ctx, limits.events_default, limits.events_max)
    filters = EventFilters.from_query(ctx)
    binding = filters.fingerprint()
    after = decode_offset(ctx.qstr("offset"), binding, 2, limits.offset_ttl_ms)
    sql, params = events_page_query(filters, after)
    con = ctx.con()
    params.update(limit=limit + 1, portal_id=portal_id(con))
    rows = con.execute(sql, params).fetchall()
    return keyset_page("events", rows, limit, binding, after, width=2)


def get_event(ctx: Ctx) -> Response:
    """`GET /email/public/v1/events/{created}/{id}`: events are identified by both."""
    ctx.require_scope(SCOPE)
    created = path_int(ctx, "created")
    event_id = decode_path_id(ctx.path["id"])
    con = ctx.con()
    row = con.execute(
        f"select {EVENT_JSON_SQL} from email_events indexed by email_events_created "
        "where created = :created and id = :id",
        {"created": created, "id": event_id, "portal_id": portal_id(con)},
    ).fetchone()
    if row is None:
        raise errors.resource_not_found(f"No email event with created={created} id={event_id}")
    return Response(row[0], media_type=JSON_MEDIA_TYPE)


# -- campaigns ----------------------------------------------------------------------------------

CAMPAIGN_ITEM_SQL = ("json_object('id', id, 'appId', app_id, 'appName', app_name, "
                     "'lastUpdatedTime', last_updated_ms)")
# Whether HubSpot's `by-id` items carry lastUpdatedTime is an open item of the reference.
CAMPAIGN_ITEM_SQL_UNDATED = "json_object('id', id, 'appId', app_id, 'appName', app_name)"


@dataclass(frozen=True)
class CampaignListing:
    """One of the two campaign listings: they differ only in their order (and its keyset)."""

    kind: str
    order: str  # SQL order by, over the keyset columns
    keys: str  # the keyset columns, in `order`'s order
    after: str  # the condition "strictly after the position", on :k0, :k1, …

    @property
    def width(self) -> int:
        return self.keys.count(",") + 1


BY_ID = CampaignListing("campaigns/by-id", "id", "id", "id > :k0")
# "Recent activity": the campaigns whose events changed last come first.
RECENT = CampaignListing(
    "campaigns/recent", "last_updated_ms desc, id desc", "last_updated_ms, id",
    "(last_updated_ms < :k0 or (last_updated_ms = :k0 and id < :k1))",
)


def list_campaigns(ctx: Ctx, listing: CampaignListing) -> Response:
    ctx.require_scope(SCOPE)
    limits = ctx.state.settings.limits
    limit = limit_param(ctx, limits.campaigns_default, limits.campaigns_max)
    binding = fingerprint(listing.kind, {})
    after = decode_offset(ctx.qstr("offset"), binding, listing.width, limits.offset_ttl_ms)
    item_sql = (CAMPAIGN_ITEM_SQL if ctx.state.settings.campaigns_last_updated
                else CAMPAIGN_ITEM_SQL_UNDATED)
    params: dict[str, Any] = {f"k{i}": v for i, v in enumerate(after or [])}
    where = listing.after if after is not None else "1"
    rows = ctx.con().execute(
        f"select {item_sql}, {listing.keys} from email_campaigns where {where} "
        f"order by {listing.order} limit :limit",
        {**params, "limit": limit + 1},
    ).fetchall()
    return keyset_page("campaigns", rows, limit, binding, after, listing.width)


def campaigns_by_id(ctx: Ctx) -> Response:
    """`GET /email/public/v1/campaigns/by-id`: every campaign id, in no particular order."""
    return list_campaigns(ctx, BY_ID)


def campaigns_recent(ctx: Ctx) -> Response:
    """`GET /email/public/v1/campaigns`: campaigns with recent activity first."""
    return list_campaigns(ctx, RECENT)


def get_campaign(ctx: Ctx) -> dict[str, Any]:
    """`GET /email/public/v1/campaigns/{campaign_id}` (optionally `?appId=`): details, counters."""
    ctx.require_scope(SCOPE)
    campaign_id = path_int(ctx, "campaign_id")
    app_id = ctx.qint("appId")
    row = ctx.con().execute(
        "select id, app_id, app_name, content_id, name, subject, type, sub_type, num_included, "
        "num_queued, counters, last_updated_ms from email_campaigns where id = ?",
        (campaign_id,),
    ).fetchone()
    if row is None or (app_id is not None and row[1] != app_id):
        raise errors.resource_not_found(f"No email campaign with id {campaign_id}")
    keys = ("id", "appId", "appName", "contentId", "name", "subject", "type", "subType",
            "numIncluded", "numQueued", "counters", "lastUpdatedTime")
    campaign = dict(zip(keys, row, strict=True))
    campaign["counters"] = loads(row[10])
    return campaign


def routes() -> list[BaseRoute]:
    # `by-id` before `{campaign_id}`: routes match in order, and the template would take it.
    return [
        *hubspot_route(["/email/public/v1/events"], list_events, methods=["GET"]),
        *hubspot_route(["/email/public/v1/events/{created}/{id}"], get_event, methods=["GET"]),
        *hubspot_route(["/email/public/v1/campaigns/by-id"], campaigns_by_id, methods=["GET"]),
        *hubspot_route(["/email/public/v1/campaigns"], campaigns_recent, methods=["GET"]),
        *hubspot_route(["/email/public/v1/campaigns/{campaign_id}"], get_campaign,
                       methods=["GET"]),
    ]

