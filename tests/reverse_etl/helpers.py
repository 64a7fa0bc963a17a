"""Helpers of the sync tests: a hand-made warehouse (the sync model's contract), a config
pointing at a sandbox server, and readers of what the sandbox holds, answered and logged.

Truth is always read through the sandbox's own API (batch read, `/_sandbox/writes`,
`/_sandbox/requests`), never from the sync's state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import requests

from hubseg.config import (
    ExtractSettings,
    HubsegConfig,
    HubSpotSettings,
    Secret,
    SyncSettings,
    WarehouseSettings,
)
from reverse_etl.values import OwnedValues
from sandbox.server.process import RunningServer

SEGMENTS = ("high_value", "rfm_champions", "rfm_loyal", "rfm_lost", "engagement_engaged",
            "engagement_dormant", "region_europe", "region_north_america")
BATCH_UPDATE = "/crm/v3/objects/{object_type}/batch/update"
BATCH_READ = "/crm/v3/objects/{object_type}/batch/read"
SEGMENTS_PROPERTY = "hubseg_segments"
PRIMARY_PROPERTY = "hubseg_primary_segment"


def assign(ids: list[str], seed: int, empty_share: float = 0.25) -> dict[str, OwnedValues]:
    """A deterministic membership: about `empty_share` of contacts in no segment."""
    rnd = random.Random(seed)
    out: dict[str, OwnedValues] = {}
    for cid in ids:
        keys = [] if rnd.random() < empty_share else rnd.sample(SEGMENTS, rnd.randint(1, 3))
        primary = min(keys, key=SEGMENTS.index) if keys else ""
        out[cid] = OwnedValues.of(";".join(keys), primary)
    return out


def write_model(path: Path, rows: Mapping[str, OwnedValues],
                segments: tuple[str, ...] = SEGMENTS,
                labels: Mapping[str, str] | None = None) -> None:
    """(Re)write the two marts the sync reads, with the columns dbt's models have."""
    labels = labels or {}
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.segments (segment_key varchar, "
                    "segment_label varchar, segment_description varchar, "
                    "segment_priority integer)")
        con.executemany("insert into marts.segments values (?, ?, ?, ?)",
                        [(k, labels.get(k, k.replace("_", " ").title()), f"About {k}.", i)
                         for i, k in enumerate(segments)])
        con.execute("create or replace table marts.sync_hubspot__contact_segments ("
                    "contact_id varchar, segment_keys varchar, primary_segment_key varchar, "
                    "segment_count integer)")
        con.execute(
            "insert into marts.sync_hubspot__contact_segments "
            "select unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), "
            "unnest(?::integer[])",
            [list(rows), [v.segments for v in rows.values()],
             [v.primary or None for v in rows.values()],
             [len(v.keys) for v in rows.values()]])
    finally:
        con.close()


def make_config(server: RunningServer, warehouse: Path, token: str | None = None,
                **sync: Any) -> HubsegConfig:
    """The sync's configuration for a sandbox server (quick back-off: faults are injected)."""
    return HubsegConfig(
        hubspot=HubSpotSettings(base_url=server.base_url, access_token=Secret(token or
                                                                             server.token),
                                tier="unlimited", backoff_initial=0.02, backoff_max=0.2),
        extract=ExtractSettings(),
        warehouse=WarehouseSettings(path=warehouse),
        sync=SyncSettings(**sync),
    )


def hubspot_values(server: RunningServer, ids: list[str]) -> dict[str, OwnedValues | None]:
    """What the sandbox holds, through its API (None: no such live contact)."""
    out: dict[str, OwnedValues | None] = dict.fromkeys(ids)
    for start in range(0, len(ids), 100):
        body = {"inputs": [{"id": i} for i in ids[start:start + 100]],
                "properties": [SEGMENTS_PROPERTY, PRIMARY_PROPERTY],
                "propertiesWithHistory": []}
        answer = requests.post(f"{server.base_url}/crm/v3/objects/contacts/batch/read",
                               json=body, timeout=60,
                               headers={"Authorization": f"Bearer {server.token}"})
        assert answer.status_code in (200, 207), answer.text
        for record in answer.json()["results"]:
            props = record["properties"]
            out[record["id"]] = OwnedValues.of(props.get(SEGMENTS_PROPERTY),
                                               props.get(PRIMARY_PROPERTY))
    return out


def write_log(server: RunningServer) -> list[dict[str, Any]]:
    """Every property change clients made, oldest first."""
    rows: list[dict[str, Any]] = []
    after = 0
    while True:
        page = server.admin("GET", "writes", params={"after": after, "limit": 10_000}).json()
        rows.extend(page["writes"])
        if not page["writes"]:
            return rows
        after = page["last"]


def request_count(server: RunningServer, route: str, status: int | None = None,
                  method: str | None = None) -> int:
    """Requests the sandbox answered on a route template (by status and method if given)."""
    rows = server.admin("GET", "requests", params={"route": route}).json()["requests"]
    return sum(r["count"] for r in rows if (status is None or r["status"] == status)
               and (method is None or r["method"] == method))


def api_put(server: RunningServer, path: str, body: Any, method: str = "POST"
            ) -> requests.Response:
    return requests.request(method, f"{server.base_url}{path}", json=body, timeout=60,
                            headers={"Authorization": f"Bearer {server.token}"})


def warehouse_rows(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
