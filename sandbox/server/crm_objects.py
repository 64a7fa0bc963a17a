"""STUB: routes for crm_objects; implemented by a helper."""

from starlette.routing import BaseRoute


def routes() -> list[BaseRoute]:
    return []
