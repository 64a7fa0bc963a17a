"""HubSpot → warehouse with dlt. The source itself is in `source.py` (see its docstring).

`hubspot_source` and `RunContext` are imported on first use: dlt takes seconds to import, and
the `hubseg` command only needs this package's constants to build its help.
"""

from __future__ import annotations

from typing import Any

from pipelines.hubspot.settings import RESOURCES

__all__ = ["RESOURCES", "RunContext", "hubspot_source"]


def __getattr__(name: str) -> Any:
    if name == "hubspot_source":
        from pipelines.hubspot.source import hubspot_source

        return hubspot_source
    if name == "RunContext":
        from pipelines.hubspot.context import RunContext

        return RunContext
    raise AttributeError(f"module 'pipelines.hubspot' has no attribute {name!r}")
