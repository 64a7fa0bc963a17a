"""The warehouse side of the sync: the DuckDB file, the sync model and the segments mart.

The sync reads two dbt models (names configurable under [hubseg.sync]):

- the sync model (`marts.sync_hubspot__contact_segments`): one row per HubSpot contact id with
  its segment keys (`;`-joined) and primary segment key;
- the segments mart (`marts.segments`): every declared segment with its label, description
  and priority, which become the options of the two HubSpot properties.

Its own state lives in the working file (schema `reverse_etl`, see `state.py`), so the state
and the run log are always written together. The models come from the marts file, attached
read-only (`hubseg/marts_file.py`): the nightly copies that file for BI while the sync runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from hubseg.config import ConfigError, WarehouseSettings
from hubseg.marts_file import connect_working, quote_literal

SYNC_MODEL_COLUMNS = ("contact_id", "segment_keys", "primary_segment_key")
SEGMENTS_COLUMNS = ("segment_key", "segment_label", "segment_description", "segment_priority")


def reader(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A second connection to the same warehouse, for a query run in another thread, that
    resolves names as `con` does (the search path is a per-connection setting)."""
    row = con.execute("select current_setting('search_path')").fetchone()
    cursor = con.cursor()
    if row and row[0]:
        cursor.execute(f"set search_path = '{quote_literal(str(row[0]))}'")
    return cursor


@contextmanager
def connect(settings: WarehouseSettings, *, read_only: bool
            ) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse DuckDB file; read-only for a dry run, which must change nothing."""
    if settings.destination != "duckdb":
        raise ConfigError(f"hubseg sync reads the DuckDB warehouse; the {settings.destination!r}"
                          " destination is not supported by the sync yet")
    path = settings.path
    if not path.exists():
        raise ConfigError(f"no warehouse at {path}: run `hubseg extract` and `dbt build` first "
                          "(or point HUBSEG_WAREHOUSE at the DuckDB file dbt builds)")
    try:
        con = connect_working(path, read_only=read_only)
    except duckdb.IOException as exc:
        raise ConfigError(f"cannot open the warehouse {path} ({exc}); is another process "
                          "(dbt, hubseg extract, a BI tool) holding it open for writing?"
                          ) from None
    try:
        yield con
    finally:
        con.close()


def require_columns(con: duckdb.DuckDBPyConnection, relation: str, columns: Sequence[str],
                    what: str) -> None:
    """Fail with a ConfigError saying what to build when a model or a column is missing."""
    # `describe` resolves the name as the sync's queries will (the marts file through the
    # search path), where information_schema would also list same-named tables elsewhere.
    try:
        present = {row[0] for row in con.execute(f"describe {relation}").fetchall()}
    except duckdb.CatalogException:
        present = set()
    if not present:
        raise ConfigError(f"the warehouse has no {relation} ({what}): run `dbt build` first, "
                          "or set the model name under [hubseg.sync] in .dlt/config.toml")
    missing = [c for c in columns if c not in present]
    if missing:
        raise ConfigError(f"{relation} ({what}) lacks the column(s) {', '.join(missing)} the "
                          "sync reads; rebuild it with this version's models (`dbt build`)")


@dataclass(frozen=True)
class SegmentDefinition:
    """One declared segment: it becomes one option of both HubSpot properties."""

    key: str
    label: str
    description: str
    priority: int


def segment_definitions(con: duckdb.DuckDBPyConnection, relation: str
                        ) -> list[SegmentDefinition]:
    """Every declared segment, in priority order (the options' display order)."""
    require_columns(con, relation, SEGMENTS_COLUMNS, "the segments mart")
    rows = con.execute(
        f"select segment_key, segment_label, segment_description, segment_priority "
        f"from {relation} where segment_key is not null "
        f"order by segment_priority nulls last, segment_key").fetchall()
    if not rows:
        raise ConfigError(f"{relation} declares no segments: check the segment YAML and run "
                          "`dbt build`")
    return [SegmentDefinition(str(key), str(label or key), str(description or ""),
                              int(priority) if priority is not None else 0)
            for key, label, description, priority in rows]


@dataclass(frozen=True)
class ModelProfile:
    """Row counts of the sync model that the guardrails judge before anything is sent."""

    rows: int
    null_ids: int
    duplicate_ids: int


def require_sync_model(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    require_columns(con, relation, SYNC_MODEL_COLUMNS, "the sync model")


def model_profile(con: duckdb.DuckDBPyConnection, relation: str) -> ModelProfile:
    """The counts the guardrails judge; call `require_sync_model` first."""
    row = con.execute(
        f"select count(*), count(*) - count(contact_id), "
        f"count(contact_id) - count(distinct contact_id) from {relation}").fetchone()
    assert row is not None
    return ModelProfile(rows=int(row[0]), null_ids=int(row[1]), duplicate_ids=int(row[2]))
