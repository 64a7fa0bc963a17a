"""Email events written straight to load files, where dlt's row-by-row normalizer would change
nothing.

Email events are nine rows in ten of a load, and dlt's normalizer spent more CPU on them than
extraction and loading together: it flattens each row, checks every value's type, draws a row
id and rewrites the file (level-9 gzip, twice: once extracting, once normalizing). For the
DuckDB warehouse, `LoadFiles` writes a page's events in the normalizer's own output form —
columns named by the schema's naming convention, nested objects flattened as `parent__child`,
`_dlt_load_id` and a random `_dlt_id` per row — to a gzipped JSON-lines file (level 1) that dlt
imports into the load package as it is (`dlt.mark.with_file_import`); the loader then reads it
like any other file.

Only rows that dlt would write unchanged take this path. An event dlt would transform goes to
dlt as before: a value whose type differs from its column's (dlt coerces it or adds a variant
column), a list or a nested object that is not a JSON column (a child table), deeper nesting, an
empty key, or a new column with a preferred type. So the raw table is the same — columns, types
and values — whichever way its rows came.
"""

from __future__ import annotations

import gzip
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import dlt
from dlt.common.json import json as dlt_json
from dlt.common.normalizers.utils import generate_dlt_ids

ROWS_PER_FILE = 100_000
LOAD_ID, ROW_ID = "_dlt_load_id", "_dlt_id"
ROW_COLUMNS: dict[str, dict[str, Any]] = {
    LOAD_ID: {"name": LOAD_ID, "data_type": "text", "nullable": False},
    ROW_ID: {"name": ROW_ID, "data_type": "text", "nullable": False, "unique": True,
             "row_key": True},
}
_SCALAR_TYPES: dict[type, str] = {str: "text", int: "bigint", float: "double", bool: "bool"}
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_TRANSFORMED = "transformed"  # a name whose values dlt would change: leave rows to dlt


class LoadFiles:
    """Rows of one table, written to load files that dlt imports without normalizing.

    Call from inside the table's resource (it reads the source schema and load package).
    """

    def __init__(self, table: str, hints: Mapping[str, Mapping[str, Any]], scratch: Path
                 ) -> None:
        schema = dlt.current.source_schema()
        self._schema = schema
        self._naming = schema.naming
        self._detects_strings = bool(schema.settings.get("detections"))
        self.table = table
        self._load_id = dlt.current.load_package_state()["load_id"]
        self._scratch = scratch
        existing = (schema.tables.get(table) or {}).get("columns") or {}
        self._types: dict[str, str] = {name: str(column["data_type"])
                                       for name, column in {**hints, **existing}.items()
                                       if column.get("data_type")}
        self._new: dict[str, dict[str, Any]] = {}  # inferred here, declared with the next file
        self._names: dict[str, str | None] = {}
        self._nested_names: dict[tuple[str, str], str] = {}
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._in_file = 0
        self.rows_written = 0  # in files handed to dlt

    # -- rows ------------------------------------------------------------------------------------
    def add(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write the items dlt would write unchanged to the current file; return the others,
        for dlt to normalize. Rows are written as they come, so memory stays one page."""
        left: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for item in items:
            row = self._row(item)
            if row is None:
                left.append(item)
            else:
                rows.append(row)
        if rows:
            self._write(rows)
        return left

    @property
    def full(self) -> bool:
        return self._in_file >= ROWS_PER_FILE

    def flush(self) -> Iterator[Any]:
        """The current file, closed, for dlt to import (nothing when no rows were written)."""
        if self._file is None or self._path is None:
            return
        self._file.close()
        path, rows = self._path, self._in_file
        self._file, self._path, self._in_file = None, None, 0
        columns = {**ROW_COLUMNS, **self._new}
        self._new = {}
        self.rows_written += rows
        # The scratch file is hard-linked into the package; run_extract removes the scratch.
        yield dlt.mark.with_file_import(str(path), "jsonl", rows,
                                        dlt.mark.make_hints(columns=columns))  # type: ignore[arg-type]

    def close(self) -> None:
        """Drop an unfinished file (a failed run: nothing of it is committed)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, rows: list[dict[str, Any]]) -> None:
        if self._file is None:
            self._scratch.mkdir(parents=True, exist_ok=True)
            self._path = self._scratch / f"{self.table}.{uuid.uuid4().hex}.jsonl.gz"
            # Open across pages, closed by flush() or close().
            self._file = gzip.open(self._path, "wb", compresslevel=1)  # noqa: SIM115
        for row, row_id in zip(rows, generate_dlt_ids(len(rows)), strict=True):
            row[LOAD_ID] = self._load_id
            row[ROW_ID] = row_id
        self._file.write(b"\n".join(map(dlt_json.dumpb, rows)) + b"\n")
        self._in_file += len(rows)

    # -- the normalizer's output form, or None where dlt would change the row -------------------
    def _row(self, item: dict[str, Any]) -> dict[str, Any] | None:
        row: dict[str, Any] = {}
        for key, value in item.items():
            if value is None:
                continue
            name = self._name(key)
            if name is None:
                return None
            if type(value) is dict and self._type(name) != "json":
                if self._type(name) is not None:
                    return None  # a scalar column, or a preferred type: dlt decides
                for inner_key, inner in value.items():  # flattened one level, like dlt
                    if inner is None:
                        continue
                    inner_name = self._name(inner_key)
                    if inner_name is None:
                        return None
                    if not self._put(row, self._nested_name(name, inner_name), inner):
                        return None
            elif not self._put(row, name, value):
                return None
        return row

    def _put(self, row: dict[str, Any], name: str, value: Any) -> bool:
        kind = type(value)
        if kind is dict or kind is list:
            ok = self._type(name) == "json"  # a new list is a child table, a dict goes deeper
        else:
            data_type = _SCALAR_TYPES.get(kind)
            if data_type is None or not _plain(value):
                return False
            have = self._type(name)
            ok = self._infer(name, data_type) if have is None else have == data_type
        if ok:
            row[name] = value
        return ok

    def _type(self, name: str) -> str | None:
        """The column's data type; `_TRANSFORMED` for an unknown name with a preferred type."""
        have = self._types.get(name)
        if have is None and self._schema.get_preferred_type(name) is not None:
            self._types[name] = have = _TRANSFORMED
        return have

    def _infer(self, name: str, data_type: str) -> bool:
        """A new column, typed as dlt types it from its first value."""
        if data_type == "text" and self._detects_strings:
            return False  # dlt may detect a timestamp or the like in the text
        self._types[name] = data_type
        self._new[name] = {"name": name, "data_type": data_type, "nullable": True}
        return True

    def _name(self, key: str) -> str | None:
        name = self._names.get(key, "")
        if name == "":
            name = self._naming.normalize_identifier(key) if key and not key.isspace() else None
            self._names[key] = name
        return name

    def _nested_name(self, parent: str, child: str) -> str:
        name = self._nested_names.get((parent, child))
        if name is None:
            name = self._naming.shorten_fragments(parent, child)
            self._nested_names[(parent, child)] = name
        return name


def _plain(value: Any) -> bool:
    """A value dlt writes as it is: not an out-of-range integer or a non-finite float."""
    if type(value) is int:
        return _INT64[0] <= value <= _INT64[1]
    if type(value) is float:
        return math.isfinite(value)
    return True
