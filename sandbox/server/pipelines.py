"""STUB: routes for pipelines; implemented by a helper."""

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
