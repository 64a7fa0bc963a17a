"""Email events and email campaigns from HubSpot's legacy email analytics API (v1).

Events: one `created` window per run, [start, end) in epoch ms, fetched 1,000 per request
(`startTimestamp`/`endTimestamp` are inclusive, so the request asks up to end − 1). HubSpot
returns a window newest first, following `offset` while `hasMore`. Offsets are short-lived, so
progress across runs is kept as the window's remaining inclusive upper bound: the `created` of
the oldest event loaded so far. A resumed window re-reads the events of that one millisecond,
which the merge on (`id`, `created`) deduplicates: a run's rows replace the same events loaded
by an earlier run. Within a run, windows do not overlap, and an event repeated within a page or
on the next page of its offset chain (where a chain that shifts would repeat it) is dropped
here, so dlt is told a package's rows are unique (the `deduplicated` merge hint): at 20M
events, dlt's own deduplication of the staging table (a ROW_NUMBER window over every column)
spilled more than 14 GB to disk and failed. The pages are fetched ahead by `event_feed.py` and
loaded in several packages per run (`pipelines/events_lane.py`), each committing the window's
upper bound after its last page. Into DuckDB, events go as load files that dlt imports without
normalizing them row by row (`loadfiles.py`; same columns and values).

Campaigns: the `by-id` list (one request per 500 ids), then one detail request per campaign
whose `lastUpdatedTime` changed since the last run, not one per campaign every run.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import dlt

from hubseg.api import DailyLimitReached, RequestRejected
from pipelines.hubspot.context import RunContext
from pipelines.hubspot.event_feed import EventFeed
from pipelines.hubspot.loadfiles import LoadFiles
from pipelines.hubspot.settings import EVENT_COLUMNS
from pipelines.hubspot.windows import windows

EVENTS = "email_events"
CAMPAIGNS = "email_campaigns"
DETAILS_PER_YIELD = 50


def _events_query(ctx: RunContext, window: dict[str, Any]) -> dict[str, Any]:
    """The window's query parameters; fixed for the whole window, since offsets belong to them."""
    params: dict[str, Any] = {"limit": ctx.settings.events_page_size,
                              "endTimestamp": window.get("upper", window["end"] - 1)}
    if window["start"] is not None:
        params["startTimestamp"] = window["start"]
    return params


def event_rows(ctx: RunContext, feed: EventFeed, max_rows: int) -> Iterator[Any]:
    """One package's worth of event pages from `feed` (started here on the first package),
    with the resource state each page commits; for DuckDB mostly as load files dlt imports
    unnormalized (loadfiles.py)."""
    state = dlt.current.resource_state()
    if not feed.started:
        if not state and ctx.legacy_events_state:
            state.update(copy.deepcopy(ctx.legacy_events_state))
        feed.start(state)
    files = LoadFiles(EVENTS, EVENT_COLUMNS, ctx.scratch_dir) if ctx.scratch_dir else None
    try:
        for page in feed.pages(max_rows):
            if page.events:
                left = files.add(page.events) if files is not None else page.events
                if left:
                    yield left
                ctx.progress(EVENTS, len(page.events))
            state.clear()
            state.update(page.state)
            if files is not None and files.full:
                yield from files.flush()
        if files is not None:
            yield from files.flush()
    except DailyLimitReached:
        if files is not None:
            yield from files.flush()  # the pages fetched belong to the state this run commits
        raise
    finally:
        if files is not None:
            files.close()
            ctx.count_imported(EVENTS, files.rows_written)


def event_pages(ctx: RunContext, state: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """The new events of every window still to do, page by page. When a page is yielded,
    `state` says where a later run resumes once that page is loaded."""
    for window in windows(state, ctx.end_ms):
        query = _events_query(ctx, window)
        offset: str | None = None
        previous: set[tuple[str, str]] = set()
        at_upper: set[tuple[str, str]] = set()  # every event taken at `upper`'s millisecond
        restarted_at: int | None = None
        while True:
            params = {**query, "offset": offset} if offset else query
            try:
                body = ctx.client.get(ctx.client.paths.email_events, params, resource=EVENTS)
            except RequestRejected as exc:
                if offset is None or exc.status != 400 or window.get("upper") == restarted_at:
                    raise  # not an offset's expiry, or a restart that made no progress
                # Offsets are "short-lived" and ours may wait while a package loads: start
                # the window again at the oldest event already taken (`upper`, inclusive),
                # skipping the events of that millisecond already taken.
                query, offset = _events_query(ctx, window), None
                previous, restarted_at = previous | at_upper, window.get("upper")
                continue
            events = body.get("events") or []
            fresh, previous = new_events(events, previous)
            offset = body.get("offset")
            more = bool(body.get("hasMore") and events and offset)
            if more:  # everything newer than the page's oldest event is in it or before it
                upper = min(int(e["created"]) for e in events)
                if upper != window.get("upper"):
                    at_upper = set()
                at_upper |= {k for k in previous if k[1] == str(upper)}
                window["upper"] = upper
            if fresh:
                yield fresh
            if not more:
                break


def new_events(events: list[dict[str, Any]], previous: set[tuple[str, str]]
               ) -> tuple[list[dict[str, Any]], set[tuple[str, str]]]:
    """The page's events not already in it or in the previous page (an offset chain that
    shifts repeats events across a page boundary), and the page's keys for the next call."""
    keys: set[tuple[str, str]] = set()
    fresh = []
    for event in events:
        key = (str(event.get("id")), str(event.get("created")))
        if key not in keys and key not in previous:
            fresh.append(event)
        keys.add(key)
    return fresh, keys


def campaign_rows(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    state = dlt.current.resource_state()
    seen: dict[str, Any] = state.setdefault("last_updated", {})
    # The whole list first, its pages back to back: its offsets are short-lived, and the
    # details read between two pages could outlast one.
    for page in list(_campaign_pages(ctx)):
        changed = [c for c in page
                   if c.get("lastUpdatedTime") is None
                   or seen.get(str(c["id"])) != c.get("lastUpdatedTime")]
        # Small groups: a run stopped by the daily limit keeps the details it already paid for.
        for i in range(0, len(changed), DETAILS_PER_YIELD):
            group = changed[i:i + DETAILS_PER_YIELD]
            yield [_campaign(ctx, c) for c in group]
            ctx.progress(CAMPAIGNS, len(group))
            seen.update({str(c["id"]): c.get("lastUpdatedTime") for c in group})


def _campaign_pages(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    offset: str | None = None
    while True:
        params: dict[str, Any] = {"limit": ctx.settings.campaigns_page_size}
        if offset:
            params["offset"] = offset
        body = ctx.client.get(ctx.client.paths.campaigns_by_id, params, resource=CAMPAIGNS)
        yield body.get("campaigns") or []
        offset = body.get("offset")
        if not body.get("hasMore") or not offset:
            return


def _campaign(ctx: RunContext, item: dict[str, Any]) -> dict[str, Any]:
    params = {"appId": item["appId"]} if item.get("appId") is not None else None
    detail = ctx.client.get(ctx.client.paths.campaign(item["id"]), params, resource=CAMPAIGNS)
    # The list's lastUpdatedTime is what the next run compares against; keep them equal.
    return {**detail, "lastUpdatedTime": item.get("lastUpdatedTime",
                                                  detail.get("lastUpdatedTime"))}
