"""STUB: routes for associations; implemented by a helper."""

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
