"""Running the nightly against a local sandbox server (the demo, the tests, the benchmark).

Everything of one local loop lives under one directory, so a demo never touches the user's
own `.hubseg/warehouse`, and tests and benchmarks stay isolated from each other.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from hubseg.nightly.layout import Layout, resolve_layout
from sandbox.server.process import RunningServer


def local_layout(root: Path, *, project_dir: Path | None = None) -> Layout:
    return resolve_layout(root / "warehouse" / "hubseg.duckdb",
                          published=root / "warehouse" / "published.duckdb",
                          runs_dir=root / "runs", project_dir=project_dir)


def sandbox_env(server: RunningServer, root: Path, *, tier: str = "unlimited"
                ) -> dict[str, str]:
    """The environment every step needs to talk to `server` and keep its state under `root`.

    `unlimited` is the sandbox-only tier (no client-side rate budget): a local server has no
    limit unless it was started with `--rate-limit`, in which case pass the matching tier.
    """
    return {**os.environ, "HUBSPOT_BASE_URL": server.base_url,
            "HUBSPOT_ACCESS_TOKEN": server.token, "HUBSPOT_TIER": tier,
            "HUBSEG_DLT_DIR": str((root / "dlt").resolve()),
            "HUBSEG_WAREHOUSE": str((root / "warehouse" / "hubseg.duckdb").resolve())}


def portal_date(server: RunningServer) -> str:
    """The portal's 'today' (its clock moves with `advance`): the as-of date for dbt."""
    now_ms = int(server.admin("GET", "clock").json()["nowMs"])
    return datetime.fromtimestamp(now_ms / 1000, UTC).strftime("%Y-%m-%d")
