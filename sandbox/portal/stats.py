"""`portal_stats`: what a portal holds, counted straight from the store.

The extractor and warehouse tests compare their row counts with these numbers, so every count
here is defined the way a client sees it: live vs archived records, association *pairs* per
direction (a primary contact→company pair has two type ids but is one pair), email events per
type, bot-filtered events, and ids merged away.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sandbox import store


def portal_stats(path: Path | str) -> dict:
    if not Path(path).exists():
        raise FileNotFoundError(f"no sandbox portal at {path}: run `hubseg sandbox generate`")
    con = store.connect(path, readonly=True)
    try:
        return {
            "meta": _meta(con),
            "objects": _objects(con),
            "associations": _associations(con),
            "association_types": _association_types(con),
            "properties": dict(con.execute(
                "select object_type, count(*) from properties where archived = 0 "
                "group by object_type order by object_type").fetchall()),
            "history": dict(con.execute(
                "select object_type || '.' || name, count(*) from history "
                "group by object_type, name order by 1").fetchall()),
            "merged_ids": dict(con.execute(
                "select object_type, count(*) from merged_ids group by object_type "
                "order by object_type").fetchall()),
            "campaigns": con.execute("select count(*) from email_campaigns").fetchone()[0],
            "email_events": _events(con),
        }
    finally:
        con.close()


def _meta(con: sqlite3.Connection) -> dict:
    meta = dict(con.execute("select key, value from meta order by key").fetchall())
    out: dict[str, object] = {k: int(v) if v.lstrip("-").isdigit() else v
                              for k, v in meta.items()}
    out["portal_now_ms"] = store.portal_now_ms(con)
    return out


def _objects(con: sqlite3.Connection) -> dict:
    out = {t: {"live": 0, "archived": 0} for t in store.OBJECT_TYPES}
    for object_type, archived, count in con.execute(
            "select object_type, archived, count(*) from objects group by 1, 2"):
        out[object_type]["archived" if archived else "live"] = count
    return out


def _associations(con: sqlite3.Connection) -> dict:
    """Distinct (from, to) record pairs per direction, e.g. `contacts_to_companies`."""
    return {f"{a}_to_{b}": n for a, b, n in con.execute(
        "select from_type, to_type, count(*) from "
        "(select distinct from_type, from_id, to_type, to_id from associations) "
        "group by 1, 2 order by 1, 2")}


def _association_types(con: sqlite3.Connection) -> dict:
    out: dict[str, dict[str, int]] = {}
    for a, b, type_id, n in con.execute(
            "select from_type, to_type, type_id, count(*) from associations "
            "group by 1, 2, 3 order by 1, 2, 3"):
        out.setdefault(f"{a}_to_{b}", {})[str(type_id)] = n
    return out


def _events(con: sqlite3.Connection) -> dict:
    total, filtered, first, last = con.execute(
        "select count(*), coalesce(sum(filtered_event), 0), min(created), max(created) "
        "from email_events").fetchone()
    by_type = dict(con.execute(
        "select type, count(*) from email_events group by type order by type").fetchall())
    unsubscribes = con.execute(
        "select count(*) from email_events where type = 'STATUSCHANGE' "
        "and json_extract(extra, '$.portalSubscriptionStatus') = 'UNSUBSCRIBED'").fetchone()[0]
    recipients = con.execute("select count(distinct recipient) from email_events").fetchone()[0]
    return {"total": total, "by_type": by_type, "filtered": filtered,
            "unsubscribes": unsubscribes, "distinct_recipients": recipients,
            "first_created": first, "last_created": last}
