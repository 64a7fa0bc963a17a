"""The HubSpot dlt source `hubspot_source`: CRM records, associations, email, metadata.

Tables (dataset `hubspot`, the dbt source schema), each described in
`models/staging/hubspot/_hubspot__sources.yml`:

| table | written by | disposition |
|---|---|---|
| contacts, companies, deals | crm.py | merge on `id` |
| contact_associations (+ `__deals`, `__companies`) | associations.py | merge on `contact_id` |
| email_events | email.py | merge on (`id`, `created`) |
| email_campaigns | email.py | merge on `id` |
| properties (+ `__options`), deal_pipelines (+ `__stages`) | metadata.py | replace |

All resources run in parallel (dlt `parallelized=True`) through one shared client, whose
budget keeps the portal's rate limits. Each resource catches `DailyLimitReached`, so the rows
and state it has are loaded and the run reports the stop instead of failing. Metadata is
fetched before extraction starts, so the replaced tables are never emptied by such a stop.
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
    email.EVENTS: email.event_rows,
    email.CAMPAIGNS: email.campaign_rows,
    metadata.PROPERTIES: metadata.property_rows,
    metadata.DEAL_PIPELINES: metadata.pipeline_rows,
}


def _resource(ctx: RunContext, name: str) -> DltResource:
    produce = _PRODUCERS[name]

    def rows() -> Iterator[Any]:
        try:
            yield from produce(ctx)
        except DailyLimitReached as exc:
            # Stop this resource cleanly: what it yielded, and its state, still get loaded.
            ctx.note_stop(exc)

    return dlt.resource(rows, name=name, parallelized=True, **_HINTS[name])


def _first_requests(ctx: RunContext, resources: Sequence[str]) -> None:
    """The run's first requests: the metadata selected resources need (see metadata.py).

    The first answer's `Date` header fixes the window end. A run without CRM data or metadata
    makes one small request to an endpoint it will use anyway.
    """
    metadata.prefetch(ctx, resources)
    if ctx.client.first_server_time is not None:
        return
    paths = ctx.client.paths
    probes = {email.EVENTS: paths.email_events, email.CAMPAIGNS: paths.campaigns_by_id}
    ctx.client.get(probes[resources[0]], {"limit": 1}, resource=resources[0])


def hubspot_source(ctx: RunContext, resources: Sequence[str] = RESOURCES) -> DltSource:
    """The source for one run. Makes the run's first requests (see `_first_requests`)."""
    unknown = [r for r in resources if r not in RESOURCES]
    if unknown or not resources:
        raise ValueError(f"unknown resources {unknown}; choose from {', '.join(RESOURCES)}")
    _first_requests(ctx, resources)
    ctx.fix_window_end()

    @dlt.source(name="hubspot", max_table_nesting=2)
    def hubspot() -> list[DltResource]:
        schema = dlt.current.source_schema()
        # The raw typing rule (settings.py): property columns are text, whatever arrives.
        schema.update_preferred_types({PROPERTY_COLUMNS_REGEX: "text"})
        # Strings stay strings: no ISO-timestamp guessing in raw tables (staging types them).
        schema.remove_type_detection("iso_timestamp")
        return [_resource(ctx, name) for name in resources]

    return hubspot()
