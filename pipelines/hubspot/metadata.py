"""Property definitions (contacts, companies, deals) and deal pipelines with their stages.

Both are small and cheap (one request per object type, one for pipelines) and are replaced on
every run, so a property or stage deleted in HubSpot disappears from the warehouse too. The
property definitions are the very responses the CRM resources use for their property lists.

Both are fetched before extraction starts (`prefetch`), never inside the resources: dlt
empties a replaced table when its resource yields nothing, so a resource stopped by the daily
limit half-way would wipe good definitions. A run that cannot fetch them stops before loading
anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from pipelines.hubspot.context import RunContext
from pipelines.hubspot.settings import CRM_OBJECTS

PROPERTIES = "properties"
DEAL_PIPELINES = "deal_pipelines"


def prefetch(ctx: RunContext, resources: Sequence[str]) -> None:
    """Fetch the metadata the selected resources need (cached in `ctx`)."""
    for object_type in CRM_OBJECTS:
        if object_type in resources or PROPERTIES in resources:
            ctx.property_definitions(object_type)
    if DEAL_PIPELINES in resources:
        body = ctx.client.get(ctx.client.paths.pipelines("deals"), resource=DEAL_PIPELINES)
        ctx.deal_pipelines = list(body.get("results") or [])


def property_rows(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    rows = [{"object_type": object_type, **definition}
            for object_type in CRM_OBJECTS
            for definition in ctx.property_definitions(object_type)]
    yield rows
    ctx.progress(PROPERTIES, len(rows))


def pipeline_rows(ctx: RunContext) -> Iterator[list[dict[str, Any]]]:
    if ctx.deal_pipelines is None:
        raise RuntimeError("deal pipelines were not prefetched")
    yield ctx.deal_pipelines
    ctx.progress(DEAL_PIPELINES, len(ctx.deal_pipelines))
