"""Pipelines v3 (read-only): `GET /crm/v3/pipelines/{object_type}[/{id}[/stages[/{stageId}]]]`.

Definitions are stored whole (Pipeline JSON with its stages) in `pipelines`. An object type
with no pipelines answers an empty list. `archived=true` lists only archived pipelines/stages,
like the object lists.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from sandbox.server import errors
from sandbox.server.http import DBV_VERSION, Ctx, hubspot_route
from sandbox.store import OBJECT_TYPES, TYPE_IDS, loads


def _object_type(ctx: Ctx) -> str:
    raw = ctx.path["object_type"]
    name = TYPE_IDS.get(raw, raw.lower())
    if name in OBJECT_TYPES:
        ctx.require_scope(f"crm.objects.{name}.read")
    return name


def _ordered(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda d: (d.get("displayOrder", 0), str(d.get("label", ""))))


def _pipeline(ctx: Ctx) -> dict[str, Any]:
    row = ctx.con().execute("select definition from pipelines where object_type = ? and id = ?",
                            (_object_type(ctx), ctx.path["pipeline_id"])).fetchone()
    if row is None:
        raise errors.resource_not_found(
            f"Unable to find pipeline with id {ctx.path['pipeline_id']}")
    return loads(row[0])


def list_pipelines(ctx: Ctx) -> dict[str, Any]:
    rows = ctx.con().execute("select definition from pipelines where object_type = ?",
                             (_object_type(ctx),)).fetchall()
    archived = ctx.qbool("archived")
    pipelines = [p for p in map(loads, (r[0] for r in rows))
                 if bool(p.get("archived")) == archived]
    return {"results": _ordered(pipelines)}


def get_pipeline(ctx: Ctx) -> dict[str, Any]:
    return _pipeline(ctx)


def list_stages(ctx: Ctx) -> dict[str, Any]:
    archived = ctx.qbool("archived")
    stages = [s for s in _pipeline(ctx).get("stages", []) if bool(s.get("archived")) == archived]
    return {"results": _ordered(stages)}


def get_stage(ctx: Ctx) -> dict[str, Any]:
    stage_id = ctx.path["stage_id"]
    for stage in _pipeline(ctx).get("stages", []):
        if stage.get("id") == stage_id:
            return stage
    raise errors.resource_not_found(f"Unable to find stage with id {stage_id}")


def routes() -> list[BaseRoute]:
    prefixes = ("/crm/v3/pipelines/{object_type}",
                f"/crm/pipelines/{DBV_VERSION}/{{object_type}}")
    return [
        *hubspot_route(list(prefixes), list_pipelines, methods=["GET"]),
        *hubspot_route([p + "/{pipeline_id}" for p in prefixes], get_pipeline, methods=["GET"]),
        *hubspot_route([p + "/{pipeline_id}/stages" for p in prefixes], list_stages,
                       methods=["GET"]),
        *hubspot_route([p + "/{pipeline_id}/stages/{stage_id}" for p in prefixes], get_stage,
                       methods=["GET"]),
    ]
