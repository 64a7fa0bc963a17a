"""Load files written by `LoadFiles` land exactly as dlt's own normalizer would land the rows.

Two real dlt pipelines load the same awkward items into real DuckDB files through the
warehouse destination: one yields the rows to dlt, the other passes them through `LoadFiles`.
Columns (names and types), child tables and values must be identical; only the random
`_dlt_id`s differ. Items dlt would transform (a value of another type than its column, an
unhinted list, deep nesting) must have been left to dlt.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import duckdb

from pipelines.hubspot.loadfiles import LoadFiles
from pipelines.warehouse import JSONL, destination_for

HINTS: dict[str, dict[str, Any]] = {
    "id": {"data_type": "text", "nullable": False},
    "created": {"data_type": "bigint", "nullable": False},
    "browser": {"data_type": "json"},
    "cc": {"data_type": "json"},
}

ITEMS: list[dict[str, Any]] = [
    {"id": "a", "created": 1, "type": "OPEN", "sentBy": {"id": "s", "created": 0},
     "browser": {"name": "x", "family": {"deep": 1}}, "cc": ["p@x"], "filteredEvent": False,
     "duration": 12, "score": 1.5, "appName": None},
    {"id": "b", "created": 2, "type": "CLICK", "url": "https://x/ü", "userAgent": "ua"},
    {"id": "c", "created": 3, "type": 7},                           # int into a text column
    {"id": "d", "created": 4, "tags": ["t1", "t2"]},                # an unhinted list: child table
    {"id": "e", "created": 5, "location": {"geo": {"lat": 1.0}}},   # nested two levels
    {"id": "f", "created": 6, "duration": "long"},                  # text into a bigint column
    {"id": "g", "created": 7, "sentBy": {"id": "t", "created": 1}, "score": 2},  # int: double
]


def _load(tmp_path: Path, name: str, through_files: bool) -> tuple[list[Any], dict[str, Any]]:
    warehouse = tmp_path / name
    destination, file_format = destination_for("duckdb", warehouse / "db.duckdb")
    assert file_format == JSONL
    written: dict[str, Any] = {}

    @dlt.resource(name="events", write_disposition="merge", primary_key=("id", "created"),
                  columns=HINTS)
    def events() -> Iterator[Any]:
        if not through_files:
            yield ITEMS
            return
        files = LoadFiles("events", HINTS, warehouse / "scratch")
        left = files.add(ITEMS[:2])
        yield from files.flush()
        left += files.add(ITEMS[2:])
        if left:
            yield left
        yield from files.flush()
        written["files"] = files.rows_written
        written["left"] = [item["id"] for item in left]

    @dlt.source(name="s", max_table_nesting=2)
    def source() -> Any:
        dlt.current.source_schema().remove_type_detection("iso_timestamp")
        return events

    pipeline = dlt.pipeline(pipeline_name=name, pipelines_dir=str(warehouse / "dlt"),
                            destination=destination, dataset_name="raw")
    pipeline.run(source(), loader_file_format=file_format)
    con = duckdb.connect(str(warehouse / "db.duckdb"), read_only=True)
    try:
        columns = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name like 'events%' order by all").fetchall()
        tables = sorted({row[0] for row in columns})
        contents = {}
        for table in tables:
            names = [c for t, c, _ in columns if t == table and c not in
                     ("_dlt_id", "_dlt_load_id", "_dlt_parent_id", "_dlt_root_id")]
            select = ", ".join(f'"{c}"::varchar' for c in names)
            contents[table] = sorted(con.execute(f"select {select} from raw.{table}").fetchall(),
                                     key=repr)
        ids = con.execute("select count(distinct _dlt_id), count(*), count(_dlt_load_id) "
                          "from raw.events").fetchone()
    finally:
        con.close()
    return columns, {"contents": contents, "ids": ids, **written}


def test_load_files_land_like_dlt_normalized_rows(tmp_path: Path) -> None:
    expected_columns, expected = _load(tmp_path, "rows", through_files=False)
    columns, actual = _load(tmp_path, "files", through_files=True)

    assert columns == expected_columns
    assert actual["contents"] == expected["contents"]
    assert actual["ids"] == expected["ids"] == (7, 7, 7)  # every row has its own id and load id
    # The items dlt transforms went to dlt; the plain ones were written as files.
    assert actual["left"] == ["c", "d", "e", "f", "g"]
    assert actual["files"] == 2
    assert ("events", "duration__v_text", "VARCHAR") in columns  # dlt's variant column
    assert any(table == "events__tags" for table, _, _ in columns)  # dlt's child table
