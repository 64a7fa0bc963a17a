"""The HubSpot dlt sources: `hubspot_source` (CRM records, associations, campaigns, metadata)
and `email_events_source` (the email events, in packages of their own).

Tables (dataset `hubspot`, the dbt source schema), each described in
`models/staging/hubspot/_hubspot__sources.yml`:

| table | written by | disposition |
|---|---|---|
| contacts, companies, deals | crm.py | merge on `id` |
| contact_associations (+ `__deals`, `__companies`) | associations.py | merge on `contact_id` |
| email_events | email.py | merge on (`id`, `created`) |
| email_campaigns | email.py | merge on `id` |
| properties (+ `__options`), deal_pipelines (+ `__stages`) | metadata.py | replace |

`start_run` makes a run's first requests and fixes its window end. Every resource runs
through one shared client, whose budget keeps the portal's rate limits: the resources of
`hubspot_source` in parallel (dlt `parallelized=True`), the email events in a thread of their
own (`event_feed.py`) whose pages are loaded in several packages by a second pipeline while
the rest is still being extracted (`pipelines/extract.py`). Each resource catches
`DailyLimitReached`, so the rows and state it has are loaded and the run reports the stop
instead of failing. Metadata is fetched before extraction starts, so the replaced tables are
never emptied by such a stop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dlt
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from hubseg.api import DailyLimitReached
from pipelines.hubspot import email, metadata
from pipelines.hubspot.context import RunContext
from pipelines.hubspot.crm import CrmExtractor
from pipelines.hubspot.event_feed import EventFeed
from pipelines.hubspot.settings import (
    CAMPAIGN_COLUMNS,
    CRM_OBJECTS,
    EVENT_COLUMNS,
    EVENT_PRIMARY_KEY,
    PROPERTY_COLUMNS_REGEX,
    PROPERTY_DEFINITION_KEY,
    RESOURCES,
)

Producer = Callable[[RunContext], Iterator[Any]]
SOURCE = "hubspot"
EVENTS_SOURCE = "hubspot_email_events"

_HINTS: dict[str, dict[str, Any]] = {
    # CRM columns are declared by the resource itself (crm.py), after its snapshot table.
    **{name: {"write_disposition": "merge", "primary_key": "id"} for name in CRM_OBJECTS},
    # `email.py` drops the repeats of a run's offset chains: dlt need not deduplicate the
    # staging table, the costliest step of a large load (see its docstring).
    email.EVENTS: {"write_disposition": {"disposition": "merge", "strategy": "delete-insert",
                                         "deduplicated": True},
                   "primary_key": EVENT_PRIMARY_KEY,
                   "columns": EVENT_COLUMNS},
    email.CAMPAIGNS: {"write_disposition": "merge", "primary_key": "id",
                      "columns": CAMPAIGN_COLUMNS},
    metadata.PROPERTIES: {"write_disposition": "replace", "primary_key": PROPERTY_DEFINITION_KEY},
    metadata.DEAL_PIPELINES: {"write_disposition": "replace", "primary_key": "id"},
}


def _crm_producer(object_type: str) -> Producer:
    return lambda ctx: CrmExtractor(ctx, object_type).rows()


_PRODUCERS: dict[str, Producer] = {
    **{name: _crm_producer(name) for name in CRM_OBJECTS},
    email.CAMPAIGNS: email.campaign_rows,
    metadata.PROPERTIES: metadata.property_rows,
    metadata.DEAL_PIPELINES: metadata.pipeline_rows,
}


def _resource(ctx: RunContext, name: str, produce: Producer, **hints: Any) -> DltResource:
    def rows() -> Iterator[Any]:
        try:
            yield from produce(ctx)
        except DailyLimitReached as exc:
            # Stop this resource cleanly: what it yielded, and its state, still get loaded.
            ctx.note_stop(exc)

    return dlt.resource(rows, name=name, **_HINTS[name], **hints)


def start_run(ctx: RunContext, resources: Sequence[str]) -> None:
    """The run's first requests: the metadata selected resources need (see metadata.py).

    The first answer's `Date` header fixes the window end every resource shares. A run without
    CRM data or metadata makes one small request to an endpoint it will use anyway.
    """
    unknown = [r for r in resources if r not in RESOURCES]
    if unknown or not resources:
        raise ValueError(f"unknown resources {unknown}; choose from {', '.join(RESOURCES)}")
    metadata.prefetch(ctx, resources)
    if ctx.client.first_server_time is None:
        paths = ctx.client.paths
        probes = {email.EVENTS: paths.email_events, email.CAMPAIGNS: paths.campaigns_by_id}
        ctx.client.get(probes[resources[0]], {"limit": 1}, resource=resources[0])
    ctx.fix_window_end()


def _raw_typing() -> None:
    """The raw typing rule (settings.py), for the schema of the source being built."""
    schema = dlt.current.source_schema()
    # Property columns are text, whatever arrives.
    schema.update_preferred_types({PROPERTY_COLUMNS_REGEX: "text"})
    # Strings stay strings: no ISO-timestamp guessing in raw tables (staging types them).
    schema.remove_type_detection("iso_timestamp")


def hubspot_source(ctx: RunContext, resources: Sequence[str]) -> DltSource:
    """Every selected resource but the email events, for one run (after `start_run`).

    All run in parallel (dlt `parallelized=True`) through the run's shared client.
    """
    names = [r for r in resources if r in _PRODUCERS]

    @dlt.source(name=SOURCE, max_table_nesting=2)
    def hubspot() -> list[DltResource]:
        _raw_typing()
        return [_resource(ctx, name, _PRODUCERS[name], parallelized=True) for name in names]

    return hubspot()


def email_events_source(ctx: RunContext, feed: EventFeed, max_rows: int) -> DltSource:
    """About `max_rows` email events from `feed`: one of the run's event packages.

    A source (and dlt schema) of its own, loaded by a pipeline of its own, so that its packages
    load while the other resources are still being extracted (`pipelines/extract.py`).
    """

    @dlt.source(name=EVENTS_SOURCE, max_table_nesting=2)
    def hubspot_email_events() -> list[DltResource]:
        _raw_typing()
        return [_resource(ctx, email.EVENTS,
                          lambda ctx: email.event_rows(ctx, feed, max_rows))]

    return hubspot_email_events()
