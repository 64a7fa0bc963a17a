"""Write a sandbox portal straight into the raw `hubspot` schema, in the extractor's shape.

For the dbt benchmark at `large` only: extracting 16M events through the API takes hours, and
the dbt build is what is measured. The tables and columns are the ones `hubseg extract` lands
(models/staging/hubspot/_hubspot__sources.yml): `property_<name>` text columns, event fields
flattened with `__`, association snapshots with child tables linked by `_dlt_parent_id`, and
one completed row in `_dlt_loads` per load. Rows go through CSV files that DuckDB reads.

`load(store, warehouse, load_id)` replaces the CRM, metadata and campaign tables and appends
the email events not loaded yet (by the store's event sequence), as a new load. A CRM record
whose last modification and archived flag are what the previous load wrote keeps that load's
`_dlt_load_id`, as it would after an incremental extract, which re-reads only the records
modified or archived since (the incremental contact models rebuild by load id); so does the
association snapshot of an unchanged contact whose associations are the same.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import duckdb

OBJECT_TYPES = ("contacts", "companies", "deals")
# Event fields kept from `extra` (JSON path → raw column), as dlt names them.
EVENT_EXTRAS = {
    "$.category": "category", "$.dropReason": "drop_reason",
    "$.portalSubscriptionStatus": "portal_subscription_status", "$.source": "source",
    "$.url": "url", "$.deviceType": "device_type", "$.response": "response",
    "$.attempt": "attempt", "$.duration": "duration", "$.causedBy.id": "caused_by__id",
    "$.obsoletedBy.id": "obsoleted_by__id",
}
INTEGER_EVENT_COLUMNS = {"created", "email_campaign_id", "sent_by__created", "attempt",
                         "duration"}
COUNTERS = ("bounce", "click", "deferred", "delivered", "dropped", "open", "sent",
            "spamreport", "unsubscribed")


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def _ingest(con: duckdb.DuckDBPyConnection, table: str, path: Path, types: dict[str, str],
            *, append: bool = False) -> None:
    columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in types.items()) + "}"
    source = f"read_csv('{path}', header = true, columns = {columns})"
    if append:
        con.execute(f"insert into hubspot.{table} by name select * from {source}")
    else:
        con.execute(f"create or replace table hubspot.{table} as select * from {source}")


def _objects(sq: sqlite3.Connection, con: duckdb.DuckDBPyConnection, work: Path,
             load_id: str) -> None:
    for object_type in OBJECT_TYPES:
        names = [r[0] for r in sq.execute("select name from properties where object_type = ? "
                                          "and archived = 0 order by name", (object_type,))]
        extracts = ", ".join(f"json_extract(props, '$.\"{n}\"')" for n in names)
        rows = (
            (*row, load_id, f"{object_type}-{row[0]}")
            for row in sq.execute(
                f"select id, created_ms, updated_ms, archived, archived_ms, {extracts} "
                "from objects where object_type = ?", (object_type,))
        )
        path = work / f"{object_type}.csv"
        header = ["id", "created_ms", "updated_ms", "archived", "archived_ms",
                  *[f"property_{n}" for n in names], "_dlt_load_id", "_dlt_id"]
        _write_csv(path, header, rows)
        types = {c: "varchar" for c in header}
        types.update(created_ms="bigint", updated_ms="bigint", archived="boolean",
                     archived_ms="bigint")
        previous = _previous_versions(con, object_type)
        _ingest(con, object_type, path, types)
        props = ", ".join(f'"property_{n}"' for n in names)
        con.execute(
            f"create or replace table hubspot.{object_type} as select id, "
            "make_timestamptz(created_ms * 1000) as created_at, "
            "make_timestamptz(updated_ms * 1000) as updated_at, archived, "
            "make_timestamptz(archived_ms * 1000) as archived_at, "
            f"{props}, _dlt_load_id, _dlt_id from hubspot.{object_type}")
        if previous:
            con.execute(
                f"update hubspot.{object_type} as new set _dlt_load_id = old._dlt_load_id "
                f"from {previous} as old where new.id = old.id "
                "and new.updated_at = old.updated_at and new.archived = old.archived")
            con.execute(f"drop table {previous}")


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute("select count(*) from information_schema.tables where table_schema "
                        "= 'hubspot' and table_name = ?", [table]).fetchone()
    return bool(found and found[0])


def _previous_versions(con: duckdb.DuckDBPyConnection, object_type: str) -> str | None:
    """A temporary copy of what the previous load wrote of each record, if there was one."""
    if not _exists(con, object_type):
        return None
    name = f"previous_{object_type}"
    con.execute(f"create or replace temp table {name} as select id, updated_at, archived, "
                f"_dlt_load_id from hubspot.{object_type}")
    return name


SNAPSHOT_SIGNATURES = """
    select snapshots.contact_id, snapshots._dlt_load_id,
        coalesce(deals.signature, '') || '|' || coalesce(companies.signature, '') as signature
    from hubspot.contact_associations as snapshots
    left join (select _dlt_parent_id, string_agg(deal_id, ',' order by deal_id) as signature
               from hubspot.contact_associations__deals group by 1) as deals
        on deals._dlt_parent_id = snapshots._dlt_id
    left join (select _dlt_parent_id, string_agg(company_id || ':' || is_primary, ','
                                                 order by company_id) as signature
               from hubspot.contact_associations__companies group by 1) as companies
        on companies._dlt_parent_id = snapshots._dlt_id
"""


def _associations(sq: sqlite3.Connection, con: duckdb.DuckDBPyConnection, work: Path,
                  load_id: str) -> None:
    previous = "previous_snapshots" if _exists(con, "contact_associations") else None
    if previous:
        con.execute(f"create or replace temp table {previous} as {SNAPSHOT_SIGNATURES}")
    _snapshots(sq, con, work, load_id)
    if previous:
        # The extractor snapshots a contact again when it or one of its deals or companies
        # changed: a snapshot of an unchanged contact with the same associations keeps its load.
        con.execute(
            f"update hubspot.contact_associations as new set _dlt_load_id = old._dlt_load_id "
            f"from ({SNAPSHOT_SIGNATURES}) as now, {previous} as old, hubspot.contacts as c "
            "where new.contact_id = now.contact_id and now.contact_id = old.contact_id "
            "and now.signature = old.signature and c.id = new.contact_id "
            "and c._dlt_load_id != ?", [load_id])
        con.execute(f"drop table {previous}")


def _snapshots(sq: sqlite3.Connection, con: duckdb.DuckDBPyConnection, work: Path,
               load_id: str) -> None:
    contacts = work / "contact_associations.csv"
    _write_csv(contacts, ["contact_id", "_dlt_load_id", "_dlt_id"],
               ((cid, load_id, f"snapshot-{cid}") for (cid,) in sq.execute(
                   "select id from objects where object_type = 'contacts'")))
    _ingest(con, "contact_associations", contacts,
            {"contact_id": "varchar", "_dlt_load_id": "varchar", "_dlt_id": "varchar"})
    deals = work / "contact_associations__deals.csv"
    _write_csv(deals, ["deal_id", "_dlt_parent_id", "_dlt_id"],
               ((d, f"snapshot-{c}", f"d-{c}-{d}") for c, d in sq.execute(
                   "select distinct from_id, to_id from associations "
                   "where from_type = 'contacts' and to_type = 'deals'")))
    _ingest(con, "contact_associations__deals", deals,
            {"deal_id": "varchar", "_dlt_parent_id": "varchar", "_dlt_id": "varchar"})
    companies = work / "contact_associations__companies.csv"
    _write_csv(companies, ["company_id", "is_primary", "_dlt_parent_id", "_dlt_id"],
               ((co, bool(primary), f"snapshot-{c}", f"c-{c}-{co}") for c, co, primary in
                sq.execute("select from_id, to_id, max(type_id = 1) from associations "
                           "where from_type = 'contacts' and to_type = 'companies' "
                           "group by 1, 2")))
    _ingest(con, "contact_associations__companies", companies,
            {"company_id": "varchar", "is_primary": "boolean", "_dlt_parent_id": "varchar",
             "_dlt_id": "varchar"})


def _metadata(sq: sqlite3.Connection, con: duckdb.DuckDBPyConnection, load_id: str) -> None:
    con.execute("create or replace table hubspot.deal_pipelines (id varchar, label varchar, "
                "display_order bigint, archived boolean, _dlt_load_id varchar, "
                "_dlt_id varchar)")
    con.execute("create or replace table hubspot.deal_pipelines__stages (id varchar, "
                "label varchar, display_order bigint, archived boolean, "
                "metadata__is_closed varchar, metadata__probability varchar, "
                "_dlt_parent_id varchar, _dlt_id varchar)")
    for (text,) in sq.execute("select definition from pipelines where object_type = 'deals'"):
        p = json.loads(text)
        con.execute("insert into hubspot.deal_pipelines values (?, ?, ?, false, ?, ?)",
                    [p["id"], p["label"], p["displayOrder"], load_id, f"pipeline-{p['id']}"])
        for s in p["stages"]:
            con.execute("insert into hubspot.deal_pipelines__stages values "
                        "(?, ?, ?, false, ?, ?, ?, ?)",
                        [s["id"], s["label"], s["displayOrder"], s["metadata"]["isClosed"],
                         s["metadata"]["probability"], f"pipeline-{p['id']}",
                         f"stage-{s['id']}"])
    con.execute("create or replace table hubspot.properties (object_type varchar, "
                "name varchar, label varchar, type varchar, field_type varchar, "
                "group_name varchar, description varchar, hubspot_defined boolean, "
                "calculated boolean, archived boolean, _dlt_load_id varchar, _dlt_id varchar)")
    con.execute("create or replace table hubspot.properties__options (value varchar, "
                "label varchar, display_order bigint, hidden boolean, "
                "_dlt_parent_id varchar, _dlt_id varchar)")
    for object_type, text in sq.execute("select object_type, definition from properties"):
        d = json.loads(text)
        row_id = f"property-{object_type}-{d['name']}"
        con.execute("insert into hubspot.properties values (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [object_type, d["name"], d["label"], d["type"], d["fieldType"],
                     d["groupName"], d["description"], d["hubspotDefined"], d["calculated"],
                     d["archived"], load_id, row_id])
        for o in d["options"]:
            con.execute("insert into hubspot.properties__options values (?,?,?,?,?,?)",
                        [o["value"], o["label"], o["displayOrder"], o["hidden"], row_id,
                         f"{row_id}-{o['value']}"])


def _campaigns(sq: sqlite3.Connection, con: duckdb.DuckDBPyConnection, work: Path,
               load_id: str) -> None:
    path = work / "email_campaigns.csv"
    rows = []
    for row in sq.execute("select id, app_id, app_name, content_id, name, subject, type, "
                          "sub_type, num_included, num_queued, last_updated_ms, counters "
                          "from email_campaigns"):
        counters = json.loads(row[-1])
        rows.append((*row[:-1], *(counters.get(k, 0) for k in COUNTERS), load_id,
                     f"campaign-{row[0]}"))
    header = ["id", "app_id", "app_name", "content_id", "name", "subject", "type",
              "sub_type", "num_included", "num_queued", "last_updated_time",
              *[f"counters__{k}" for k in COUNTERS], "_dlt_load_id", "_dlt_id"]
    _write_csv(path, header, rows)
    types = {c: "varchar" for c in header}
    types.update({c: "bigint" for c in header if c.startswith("counters__")
                  or c in ("id", "app_id", "content_id", "num_included", "num_queued",
                           "last_updated_time")})
    _ingest(con, "email_campaigns", path, types)


def _events(sq: sqlite3.Connection, con: duckdb.DuckDBPyConnection, work: Path,
            load_id: str) -> int:
    """Append the events after the last sequence loaded; returns how many."""
    exists = con.execute("select count(*) from information_schema.tables where "
                         "table_schema = 'hubspot' and table_name = 'email_events'").fetchone()
    after = 0
    if exists and exists[0]:
        after = con.execute("select coalesce(max(_seq), 0) from hubspot.email_events"
                            ).fetchone()[0]
    extras = ", ".join(f"json_extract(extra, '{p}')" for p in EVENT_EXTRAS)
    header = ["_seq", "id", "created", "type", "recipient", "email_campaign_id", "sent_by__id",
              "sent_by__created", "filtered_event", *EVENT_EXTRAS.values(), "_dlt_load_id",
              "_dlt_id"]
    path = work / "email_events.csv"
    cursor = sq.execute(
        "select seq, id, created, type, recipient, email_campaign_id, sent_by_id, "
        f"sent_by_created, filtered_event = 1, {extras} from email_events where seq > ? "
        "order by seq", (after,))
    count = 0

    def rows() -> Iterable[Sequence[object]]:
        nonlocal count
        for row in cursor:
            count += 1
            yield (*row, load_id, f"event-{row[0]}")

    _write_csv(path, header, rows())
    types = {c: "varchar" for c in header}
    types.update({c: "bigint" for c in INTEGER_EVENT_COLUMNS | {"_seq"}})
    types["filtered_event"] = "boolean"
    _ingest(con, "email_events", path, types, append=bool(after))
    return count


def load(store: Path, warehouse: Path, load_id: str) -> dict[str, int]:
    """One load of the whole portal (events: only the new ones) as completed load `load_id`."""
    sq = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("create schema if not exists hubspot")
        with tempfile.TemporaryDirectory(dir=warehouse.parent) as tmp:
            work = Path(tmp)
            _objects(sq, con, work, load_id)
            _associations(sq, con, work, load_id)
            _metadata(sq, con, load_id)
            _campaigns(sq, con, work, load_id)
            events = _events(sq, con, work, load_id)
        con.execute("create table if not exists hubspot._dlt_loads (load_id varchar, "
                    "schema_name varchar, status bigint, inserted_at timestamptz, "
                    "schema_version_hash varchar)")
        con.execute("insert into hubspot._dlt_loads values (?, 'hubspot', 0, now(), 'bench')",
                    [load_id])
        counts = {t: con.execute(f"select count(*) from hubspot.{t}").fetchone()[0]
                  for t in (*OBJECT_TYPES, "email_events")}
        return {**counts, "new_events": events}
    finally:
        con.close()
        sq.close()
