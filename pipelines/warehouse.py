"""The dlt destination for the warehouse: DuckDB with a fast, exact bulk loader, or any other.

dlt loads DuckDB with `INSERT … VALUES` statements by default (parquet needs pyarrow, which
hubseg does not depend on). DuckDB parses such statements at roughly 400 rows per second for an
email-events-wide table, minutes for a small portal and hours for a large one. dlt's JSON-lines
alternative is fast but lets `read_json` guess column types, so a HubSpot date *string* comes
back as `2024-11-01 00:59:26.796+00` instead of the `2024-11-01T00:59:26.796Z` HubSpot sent,
which breaks the raw typing rule.

`WarehouseDuckDbClient` therefore loads JSON lines with the column types from dlt's own table
schema (`read_json(…, columns={…})`): no guessing, text stays byte-for-byte, a missing key is
NULL, and a load is about 50× faster than INSERT statements.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.destination.client import LoadJob, PreparedTableSchema
from dlt.common.storages.load_storage import ParsedLoadJobFileName
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials
from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob
from dlt.destinations.impl.duckdb.factory import duckdb as DuckDbDestination

from pipelines.hubspot.settings import ASSOCIATIONS_TABLE

JSONL = "jsonl"
# DuckDB takes up to 80% of RAM by default; past this it spills to `<warehouse>.tmp` instead,
# which keeps a large portal's load well under 2 GB of memory.
DUCKDB_MEMORY_LIMIT = "1GB"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class TypedJsonCopyJob(DuckDbCopyJob):
    """Bulk-load one JSON-lines file with explicit column types."""

    def __init__(self, file_path: str, column_types: dict[str, str]) -> None:
        super().__init__(file_path)
        self._column_types = column_types

    def run(self) -> None:
        sql_client = self._job_client.sql_client
        table = sql_client.make_qualified_table_name(self.load_table_name)
        columns = ", ".join(f"{_sql_string(name)}: {_sql_string(kind)}"
                            for name, kind in self._column_types.items())
        sql_client.execute_sql(
            f"INSERT INTO {table} BY NAME SELECT * FROM read_json("
            f"{_sql_string(self._file_path)}, format = 'newline_delimited', "
            f"columns = {{{columns}}})")


class WarehouseDuckDbClient(DuckDbClient):
    def create_load_job(self, table: PreparedTableSchema, file_path: str, load_id: str,
                        restore: bool = False) -> LoadJob:
        if ParsedLoadJobFileName.parse(file_path).file_format == JSONL:
            types = {name: self.type_mapper.to_destination_type(column, table)
                     for name, column in table["columns"].items() if column.get("data_type")}
            return TypedJsonCopyJob(file_path, types)
        return super().create_load_job(table, file_path, load_id, restore)


class warehouse_duckdb(DuckDbDestination):  # lower case, like dlt's destination factories
    """dlt's DuckDB destination with the typed JSON-lines loader.

    One load job per table at a time: a table's files (the email events come in several) go
    into the same staging table, and DuckDB reading them side by side only multiplied the
    memory each `read_json` takes, on a single file of the database anyway.
    """

    def _raw_capabilities(self) -> DestinationCapabilitiesContext:
        caps = super()._raw_capabilities()
        caps.loader_parallelism_strategy = "table-sequential"
        return caps

    @property
    def client_class(self) -> type[DuckDbClient]:
        return WarehouseDuckDbClient


def destination_for(name: str, duckdb_path: Path) -> tuple[Any, str | None]:
    """The dlt destination and loader file format for `name` (`duckdb` or any dlt name)."""
    if name == "duckdb":
        duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        credentials = DuckDbCredentials(str(duckdb_path),
                                        global_config={"memory_limit": DUCKDB_MEMORY_LIMIT})
        return warehouse_duckdb(credentials=credentials), JSONL
    return name, None  # dlt resolves the credentials from .dlt/secrets.toml or the env


def previous_contacts_lookup(pipeline: dlt.Pipeline) -> Callable[[str, list[str]], list[str]]:
    """Which contacts the warehouse's association snapshots link to given deals or companies.

    HubSpot deletes the associations of an archived deal (and a removed association need not
    modify the contact), so only the last snapshot knows which contacts must be refreshed.
    Before the first load there is no table and the answer is empty.
    """
    lock = threading.Lock()  # one connection at a time: resources call this from threads
    key = {"deals": "deal_id", "companies": "company_id"}

    def lookup(to_type: str, ids: list[str]) -> list[str]:
        if not ids:
            return []
        with lock, pipeline.sql_client() as client:
            parent = client.make_qualified_table_name(ASSOCIATIONS_TABLE)
            child = client.make_qualified_table_name(f"{ASSOCIATIONS_TABLE}__{to_type}")
            marks = ", ".join(["%s"] * len(ids))
            try:
                rows = client.execute_sql(
                    f"select distinct p.contact_id from {parent} p join {child} c "
                    f"on c._dlt_parent_id = p._dlt_id where c.{key[to_type]} in ({marks})", *ids)
            except DatabaseUndefinedRelation:
                return []
        return [str(row[0]) for row in rows or []]

    return lookup
