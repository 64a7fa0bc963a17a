"""STUB: routes for properties; implemented by a helper."""

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
