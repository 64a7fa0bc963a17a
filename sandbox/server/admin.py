"""STUB: routes for admin; implemented by a helper."""

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
