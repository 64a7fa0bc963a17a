"""CRM records (contacts, companies, deals): full listing, property chunks, search windows.

Full load (a resource's first window): `GET /crm/v3/objects/{type}` pages of 100 with every
property. The property list is split into chunks whose URL stays under `max_url_chars`; each
chunk is one request per page, merged by id, so a portal with 1,000 properties never gets a 414
and a normal portal needs exactly one request per page. Contacts ask for their deal and company
associations inline, which costs no extra request. Then the archived records, the same way.

Incremental windows [start, end): search on the last-modified property, `GTE start` and
`LT end`, sorted by `hs_object_id`, 200 per page, properties in the body (no URL limit). Pages
are keyset-paged (`hs_object_id GT last id`), never offset-paged: a record that changes during
the run leaves the window without shifting the pages behind it, and the 10,000-result cap of
one search query can never be reached. Then the archived list, keeping records archived since
`start`, so deletions are flagged rather than kept alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import dlt
import requests

from pipelines.hubspot import associations
from pipelines.hubspot.context import RunContext, to_ms
from pipelines.hubspot.read_ahead import read_ahead
from pipelines.hubspot.settings import (
    CRM_COLUMNS,
    LAST_MODIFIED,
    OBJECT_ID_PROPERTY,
    PROPERTY_PREFIX,
)
from pipelines.hubspot.windows import Window, is_full, windows

Record = dict[str, Any]
# Room kept in the URL for the `after` cursor, whose length we only learn page by page.
CURSOR_RESERVE = 128
OBJECT_BATCH_MAX = 100  # inputs per CRM objects batch read (HubSpot's limit)


@dataclass
class Page:
    records: list[Record]
    next_after: str | None


# -- rows and column hints ---------------------------------------------------------------------

def to_row(record: Record) -> dict[str, Any]:
    """A HubSpot record → one raw row: top-level fields plus `property_<name>` texts."""
    row: dict[str, Any] = {
        "id": str(record["id"]),
        "created_at": record.get("createdAt"),
        "updated_at": record.get("updatedAt"),
        "archived": bool(record.get("archived", False)),
        "archived_at": record.get("archivedAt"),
    }
    for name, value in (record.get("properties") or {}).items():
        row[PROPERTY_PREFIX + name] = value
    return row


def column_hints(property_names: list[str]) -> dict[str, dict[str, Any]]:
    """Text columns for every known property, so even an all-null property gets its column."""
    hints = {PROPERTY_PREFIX + name: {"data_type": "text", "nullable": True}
             for name in property_names}
    return {**hints, **CRM_COLUMNS}


# -- property chunks ---------------------------------------------------------------------------

def property_chunks(names: list[str], fixed_url_chars: int, max_url_chars: int
                    ) -> list[list[str]]:
    """Split `names` so that each chunk's `properties=` parameter fits the URL budget.

    `requests` percent-encodes the comma separator (`%2C`, three characters), which is what
    pushed peers over the limit with a few hundred properties.
    """
    budget = max_url_chars - fixed_url_chars - len("&properties=")
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for name in names:
        cost = len(quote(name, safe="")) + (3 if current else 0)
        if current and used + cost > budget:
            chunks.append(current)
            current, used = [], 0
            cost = len(quote(name, safe=""))
        current.append(name)
        used += cost
    if current:
        chunks.append(current)
    return chunks or [[]]


def _list_params(ctx: RunContext, chunk: list[str], archived: bool, after: str | None,
                 with_associations: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": ctx.settings.list_page_size,
                              "archived": "true" if archived else "false"}
    if chunk:
        params["properties"] = ",".join(chunk)
    if with_associations:
        params["associations"] = ",".join(associations.TARGETS)
    if after:
        params["after"] = after
    return params


def _fixed_url_chars(ctx: RunContext, object_type: str, with_associations: bool) -> int:
    """Length of the list URL without properties, with room for the longest cursor we expect."""
    url = ctx.client.base_url + ctx.client.paths.objects(object_type)
    params = _list_params(ctx, [], True, "x" * CURSOR_RESERVE, with_associations)
    prepared = requests.Request("GET", url, params=params).prepare()
    return len(prepared.url or "")


# -- full listing ----------------------------------------------------------------------------

class Lister:
    """Pages of one object type's list endpoint, every property merged across chunks."""

    def __init__(self, ctx: RunContext, object_type: str, archived: bool) -> None:
        self.ctx = ctx
        self.object_type = object_type
        self.archived = archived
        # Inline associations come with live contacts only (archived ones have none).
        self.with_associations = object_type == "contacts" and not archived
        names = ctx.property_names(object_type)
        self.chunks = property_chunks(
            names, _fixed_url_chars(ctx, object_type, self.with_associations),
            ctx.settings.max_url_chars)

    def pages(self, after: str | None) -> Iterator[Page]:
        while True:
            page = self.page(after)
            yield page
            if not page.next_after:
                return
            after = page.next_after

    def page(self, after: str | None) -> Page:
        first = self._get(self.chunks[0], after, self.with_associations)
        records = {str(r["id"]): r for r in first.get("results") or []}
        for chunk in self.chunks[1:]:
            self._merge_chunk(records, chunk, after)
        next_after = ((first.get("paging") or {}).get("next") or {}).get("after")
        return Page(list(records.values()), next_after)

    def _get(self, chunk: list[str], after: str | None, with_associations: bool) -> Any:
        return self.ctx.client.get(
            self.ctx.client.paths.objects(self.object_type),
            _list_params(self.ctx, chunk, self.archived, after, with_associations),
            resource=self.object_type)

    def _merge_chunk(self, records: dict[str, Record], chunk: list[str], after: str | None
                     ) -> None:
        """Add one chunk's properties; records the chunk's page lacks are batch-read by id.

        The pages of two chunks hold the same ids unless a record was created or archived in
        between; a record missing from this chunk's page is read by id so no row lands with
        half its properties.
        """
        body = self._get(chunk, after, False)
        seen = {str(r["id"]): r for r in body.get("results") or []}
        missing = [rid for rid in records if rid not in seen]
        if missing:
            seen.update(batch_read(self.ctx, self.object_type, missing, chunk, self.archived))
        for rid, record in records.items():
            extra = seen.get(rid)
            if extra is not None:
                record.setdefault("properties", {}).update(extra.get("properties") or {})


def batch_read(ctx: RunContext, object_type: str, ids: list[str], properties: list[str],
               archived: bool) -> dict[str, Record]:
    """Records by id (100 per request), properties in the body; unknown ids are skipped."""
    found: dict[str, Record] = {}
    size = OBJECT_BATCH_MAX
    for i in range(0, len(ids), size):
        body = ctx.client.post(
            ctx.client.paths.batch_read(object_type) + f"?archived={str(archived).lower()}",
            {"inputs": [{"id": rid} for rid in ids[i:i + size]], "properties": properties,
             "propertiesWithHistory": []},
            resource=object_type)
        for record in (body or {}).get("results") or []:
            found[str(record["id"])] = record
    return found


# -- incremental search ------------------------------------------------------------------------

def search_pages(ctx: RunContext, object_type: str, start_ms: int, end_ms: int,
                 after_id: int | None) -> Iterator[list[Record]]:
    """Records modified in [start, end), ascending by id, from `after_id` on.

    Each page is its own query (`hs_object_id GT last id`), so no query ever pages deep.
    """
    names = ctx.property_names(object_type)
    modified = LAST_MODIFIED[object_type]
    while True:
        filters = [
            {"propertyName": modified, "operator": "GTE", "value": str(start_ms)},
            {"propertyName": modified, "operator": "LT", "value": str(end_ms)},
        ]
        if after_id is not None:
            filters.append({"propertyName": OBJECT_ID_PROPERTY, "operator": "GT",
                            "value": str(after_id)})
        body = ctx.client.post(ctx.client.paths.search(object_type), {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": OBJECT_ID_PROPERTY, "direction": "ASCENDING"}],
            "properties": names,
            "limit": ctx.settings.search_page_size,
        }, resource=object_type)
        results = body.get("results") or []
        if not results:
            return
        yield results
        after_id = int(results[-1]["id"])
        if not (body.get("paging") or {}).get("next"):
            return


def grouped(pages: Iterator[list[Record]], size: int) -> Iterator[list[Record]]:
    """Consecutive pages merged into groups of at least `size` records (the last may be
    smaller), so association snapshots are read 1,000 contacts per request, not 200."""
    group: list[Record] = []
    for page in pages:
        group.extend(page)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def archived_in(record: Record, window: Window) -> bool:
    """Archived within [start, end); later archives belong to the next window."""
    stamp = record.get("archivedAt") or record.get("updatedAt")
    if not stamp:
        return True  # unknown: re-emitting is harmless (merge on id), dropping is not
    at = to_ms(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    return (window["start"] is None or at >= window["start"]) and at < window["end"]


# -- the resource ------------------------------------------------------------------------------

class CrmExtractor:
    """One object type's resource body: windows → phases → pages → rows (and snapshots)."""

    def __init__(self, ctx: RunContext, object_type: str) -> None:
        self.ctx = ctx
        self.object_type = object_type

    def rows(self) -> Iterator[Any]:
        state = dlt.current.resource_state()
        # Declare the snapshot table first: dlt seeds a table variant with the resource's
        # hints at the time, and the record columns (id NOT NULL…) must not leak into it.
        yield associations.as_snapshot_items([])
        names = self.ctx.property_names(self.object_type)
        yield dlt.mark.with_hints([], dlt.mark.make_hints(columns=column_hints(names)))
        for window in windows(state, self.ctx.end_ms):
            yield from self._window(window)

    def _window(self, window: Window) -> Iterator[Any]:
        if window.get("phase", "live") == "live":
            yield from (self._full_live(window) if is_full(window) else self._search(window))
            window.update(phase="archived", after=None)
        yield from self._archived(window)

    def _full_live(self, window: Window) -> Iterator[Any]:
        lister = Lister(self.ctx, self.object_type, archived=False)
        for page in lister.pages(window.get("after")):
            yield from self._emit(page.records, window, inline=True)
            window["after"] = page.next_after

    def _search(self, window: Window) -> Iterator[Any]:
        # Read ahead: the search goes on while each group's associations are read.
        pages = read_ahead(search_pages(self.ctx, self.object_type, window["start"],
                                        window["end"], window.get("last_id")),
                           depth=2 * self.ctx.settings.association_batch_size
                           // self.ctx.settings.search_page_size)
        for records in grouped(pages, self.ctx.settings.association_batch_size):
            yield from self._emit(records, window, inline=False)
            window["last_id"] = int(records[-1]["id"])  # resume point: all before is loaded

    def _archived(self, window: Window) -> Iterator[Any]:
        lister = Lister(self.ctx, self.object_type, archived=True)
        for page in lister.pages(window.get("after")):
            recent = [r for r in page.records if archived_in(r, window)]
            yield from self._emit(recent, window, inline=False)
            window["after"] = page.next_after

    def _emit(self, records: list[Record], window: Window, inline: bool) -> Iterator[Any]:
        if not records:
            return
        yield [to_row(r) for r in records]
        self.ctx.progress(self.object_type, len(records))
        snapshots = self._snapshots(records, window, inline)
        if snapshots:
            yield associations.as_snapshot_items(snapshots)
            self.ctx.progress(associations.TABLE, len(snapshots))

    def _snapshots(self, records: list[Record], window: Window, inline: bool
                   ) -> list[dict[str, Any]]:
        """Association snapshots for the contacts these records touch (see associations.py)."""
        if self.object_type == "contacts":
            live = [r for r in records if not r.get("archived")]
            gone = [str(r["id"]) for r in records if r.get("archived")]
            if inline:
                return (associations.from_inline(self.ctx, live)
                        + associations.empty(self.ctx.claim_contacts(gone)))
            return (associations.fetch(self.ctx, self.ctx.claim_contacts(
                str(r["id"]) for r in live)) + associations.empty(self.ctx.claim_contacts(gone)))
        if is_full(window):
            return []  # the contacts' own full load carries every association
        # Contacts linked now, and contacts the warehouse links: a removed association (an
        # archived deal loses all of them) may leave the contact itself unmodified.
        ids = [str(r["id"]) for r in records]
        contact_ids = (associations.contacts_of(self.ctx, self.object_type, ids)
                       + self.ctx.previous_contacts(self.object_type, ids))
        return associations.fetch(self.ctx, self.ctx.claim_contacts(contact_ids))
