"""Reverse-ETL sync benchmark: API calls against ⌈changed ÷ 100⌉, diff time, and wall time
under the `pro` rate limit against the rate-limit bound.

    .venv/bin/python bench/sync_bench.py --preset demo     # a few minutes
    .venv/bin/python bench/sync_bench.py --preset large    # generation alone takes ~30 min

Steps:

1. Generate the portal into `bench/.work/sync-<preset>.sqlite` (`hubseg sandbox generate`,
   fixed anchor 2026-11-01), unless `--portal` names an existing one.
2. Write a sync model with the contract of `marts.sync_hubspot__contact_segments` into a fresh
   DuckDB warehouse: every live contact of the portal, with a deterministic membership over the
   segments declared in `models/marts/segments/_segments__models.yml` (one segment per category
   for most contacts). The sync's cost depends on how many contacts there are and how many
   change, not on why they are in a segment, so the benchmark does not run extract + dbt
   (which would take hours at `large`).
3. Start the real sandbox server with `--rate-limit pro` (190 requests per rolling 10 s) and
   run the sync in-process with tier `pro` (the client budget counts each request until
   10.1 s after its answer, at most 190 at a time)
   and `--parallel` batch requests in flight (default 4: on the 2-core benchmark machine 8 or
   16 made the sandbox contend and lowered throughput; a real HubSpot, farther away, wants more):
   - `first`: no state, no properties: create them, read every contact (100 per call), write
     every contact holding a segment;
   - `unchanged`: the same model again;
   - `day` (`--days N`: `day 1` … `day N`): `--day-share` of the contacts (default 2%)
     change one segment, each day from the model the previous run synced. A day is barely
     more than one 10-second window, so its ratio is noisy; the table gives the median.
   Between runs the sandbox's rate-limit window is reset, and the next run waits 10 s, so every
   run starts with a full window, as a nightly run would.
4. Record, per run: API calls by kind, batch updates against ⌈changed ÷ 100⌉, diff seconds
   (warehouse query + plan), read and send seconds (in the JSON also `held_s`, the part of the
   sends spent on warehouse work while the budget held batches, and `fold_s`, the fold after
   the last batch), wall seconds of `run_sync`, and the
   rate-limit bound — calls ÷ 19 per second (HubSpot's pro rate) and the rolling-window
   minimum (the k-th call cannot leave before 10 s × ⌊(k − 1) ÷ 190⌋). The client budget
   (190 per 10.1 s plus each request's round trip) alone makes wall ÷ rate bound at least
   about 1.02 on a long run; fixed costs (warehouse diff, property calls) weigh most on a
   short one. The 1-minute load average is recorded before and after each run: the machine is
   shared.

Results: `bench/results/sync-<preset>.json` and the table `bench/results/sync.md` (rebuilt from
every `sync-*.json` present). The portal is kept only with `--keep`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from hubseg.config import (  # noqa: E402
    ExtractSettings,
    HubsegConfig,
    HubSpotSettings,
    Secret,
    SyncSettings,
    WarehouseSettings,
)
from reverse_etl.sync import SyncReport, run_sync  # noqa: E402
from sandbox.server.process import RunningServer, start_server  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
SEGMENTS_YAML = ROOT / "models" / "marts" / "segments" / "_segments__models.yml"
ANCHOR = "2026-11-01"
PRO_PER_TEN_SECONDS = 190
WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class Segment:
    key: str
    label: str
    description: str
    category: str
    priority: int


@dataclass
class RunFigures:
    name: str
    contacts: int
    changed: int  # contacts whose values differ from what HubSpot holds
    expected_batch_updates: int  # ⌈changed ÷ 100⌉
    batch_updates: int
    contact_reads: int
    property_calls: int
    api_calls: int
    retries: int
    diff_s: float
    read_s: float
    send_s: float
    held_s: float  # of send_s: warehouse work done while the budget held batches back
    fold_s: float  # the journal folded after the last batch
    wall_s: float
    bound_rate_s: float  # api_calls ÷ 19/s
    bound_window_s: float  # rolling-window minimum
    wall_over_rate_bound: float | None
    load_before: float = 0.0  # 1-minute load average
    load_after: float = 0.0


# -- inputs -------------------------------------------------------------------------------------

def declared_segments() -> list[Segment]:
    models = yaml.safe_load(SEGMENTS_YAML.read_text())["models"]
    segments_model = next(m for m in models if m["name"] == "segments")
    return [Segment(s["key"], s["label"], str(s.get("description", "")).strip(),
                    s["category"], int(s["priority"]))
            for s in segments_model["config"]["meta"]["segments"]]


def membership(ids: list[str], segments: list[Segment], seed: int
               ) -> dict[str, tuple[str, str]]:
    """One segment per category for ~70% of contacts and categories; primary = top priority."""
    by_category: dict[str, list[Segment]] = {}
    for segment in segments:
        by_category.setdefault(segment.category, []).append(segment)
    rnd = random.Random(seed)
    out: dict[str, tuple[str, str]] = {}
    for cid in ids:
        chosen = [rnd.choice(group) for group in by_category.values() if rnd.random() < 0.7]
        keys = sorted(s.key for s in chosen)
        primary = min(chosen, key=lambda s: (s.priority, s.key)).key if chosen else ""
        out[cid] = (";".join(keys), primary)
    return out


def move_some(rows: dict[str, tuple[str, str]], segments: list[Segment], share: float,
              seed: int) -> dict[str, tuple[str, str]]:
    """A day: `share` of the contacts get one different segment."""
    rnd = random.Random(seed)
    moved = dict(rows)
    for cid in rnd.sample(sorted(rows), int(len(rows) * share)):
        keys = set(filter(None, rows[cid][0].split(";")))
        keys ^= {rnd.choice(segments).key}
        ordered = sorted(keys)
        priority = {s.key: s.priority for s in segments}
        primary = min(ordered, key=lambda k: (priority[k], k)) if ordered else ""
        moved[cid] = (";".join(ordered), primary)
    return moved


def write_warehouse(path: Path, rows: dict[str, tuple[str, str]],
                    segments: list[Segment]) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute("create or replace table marts.segments as select "
                    "unnest(?::varchar[]) as segment_key, unnest(?::varchar[]) as segment_label,"
                    " unnest(?::varchar[]) as segment_description, "
                    "unnest(?::integer[]) as segment_priority",
                    [[s.key for s in segments], [s.label for s in segments],
                     [s.description for s in segments], [s.priority for s in segments]])
        con.execute("create or replace table marts.sync_hubspot__contact_segments as select "
                    "unnest(?::varchar[]) as contact_id, unnest(?::varchar[]) as segment_keys,"
                    " nullif(unnest(?::varchar[]), '') as primary_segment_key",
                    [list(rows), [v[0] for v in rows.values()], [v[1] for v in rows.values()]])
    finally:
        con.close()


def live_contact_ids(portal: Path) -> list[str]:
    con = sqlite3.connect(portal)
    try:
        return [str(r[0]) for r in con.execute(
            "select id from objects where object_type = 'contacts' and archived = 0 "
            "order by id")]
    except sqlite3.DatabaseError as exc:
        # The usual cause: a copy made over an older file whose -wal/-shm were left behind,
        # which SQLite then applies to the new copy.
        raise SystemExit(f"cannot read the portal {portal} ({exc}); if it is a copy made "
                         f"over an older file, delete {portal}-wal and {portal}-shm, "
                         "copy it again and rerun") from exc
    finally:
        con.close()


def generate(preset: str, seed: int, store: Path) -> None:
    store.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "hubseg", "sandbox", "generate", "--preset", preset,
                    "--seed", str(seed), "--anchor", ANCHOR, "--store", str(store)],
                   check=True, stdout=subprocess.DEVNULL)


# -- one run ------------------------------------------------------------------------------------

def config_for(server: RunningServer, warehouse: Path, parallel: int) -> HubsegConfig:
    return HubsegConfig(
        hubspot=HubSpotSettings(base_url=server.base_url, access_token=Secret(server.token),
                                tier="pro"),
        extract=ExtractSettings(), warehouse=WarehouseSettings(path=warehouse),
        sync=SyncSettings(parallel_batches=parallel))


def window_bound(calls: int) -> float:
    return WINDOW_SECONDS * math.floor(max(calls - 1, 0) / PRO_PER_TEN_SECONDS)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def timed_run(name: str, server: RunningServer, warehouse: Path, contacts: int,
              parallel: int) -> RunFigures:
    server.admin("POST", "reset", json={"limits": True})
    time.sleep(WINDOW_SECONDS)  # our own client starts with a full window: so does HubSpot's
    load_before = load_average()
    started = time.monotonic()
    report: SyncReport = run_sync(config_for(server, warehouse, parallel))
    wall = time.monotonic() - started
    assert report.run.status == "succeeded", report.run.abort_reason
    assert report.plan is not None
    calls = report.run.api_calls
    rate_bound = calls / (PRO_PER_TEN_SECONDS / WINDOW_SECONDS)
    figures = RunFigures(
        name=name, contacts=contacts, changed=len(report.plan.changes),
        expected_batch_updates=math.ceil(len(report.plan.changes) / 100),
        batch_updates=report.write_calls,
        contact_reads=report.calls.get("sync: read contacts", 0),
        property_calls=report.calls.get("sync: properties", 0), api_calls=calls,
        retries=sum(report.retries.values()),
        diff_s=round(report.seconds.get("diff", 0.0), 3),
        read_s=round(report.seconds.get("read", 0.0), 3),
        send_s=round(report.seconds.get("send", 0.0), 3),
        held_s=round(report.seconds.get("held", 0.0), 3),
        fold_s=round(report.seconds.get("fold", 0.0), 3), wall_s=round(wall, 3),
        bound_rate_s=round(rate_bound, 3), bound_window_s=window_bound(calls),
        wall_over_rate_bound=round(wall / rate_bound, 3) if calls > PRO_PER_TEN_SECONDS
        else None,
        load_before=load_before, load_after=load_average())
    print(json.dumps(asdict(figures)), flush=True)
    return figures


# -- results ------------------------------------------------------------------------------------

def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kb = next((int(line.split()[1]) for line in meminfo.splitlines()
                     if line.startswith("MemTotal:")), 0)
    return {"cpus": os.cpu_count(), "ram_gb": round(total_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "duckdb": duckdb.__version__}


def _per_second(calls: int, seconds: float) -> str:
    return f" ({calls / seconds:.1f})" if calls and seconds else ""


def _row(run: dict) -> str:
    ratio = run["wall_over_rate_bound"]
    return (f"| {run['name']} | {run['changed']:,} | {run['batch_updates']:,} | "
            f"{run['expected_batch_updates']:,} | {run['contact_reads']:,} | "
            f"{run['property_calls']} | {run['api_calls']:,} | {run['retries']} | "
            f"{run['diff_s']:.3f} | "
            f"{run['read_s']:.1f}{_per_second(run['contact_reads'], run['read_s'])} | "
            f"{run['send_s']:.1f}{_per_second(run['batch_updates'], run['send_s'])} | "
            f"{run['wall_s']:.1f} | {run['bound_rate_s']:.1f} | {run['bound_window_s']:.0f} | "
            f"{'—' if ratio is None else f'{ratio:.2f}'} | "
            f"{run.get('load_before', '?')} / {run.get('load_after', '?')} |")


def write_markdown() -> None:
    lines = ["# Reverse-ETL sync benchmark", "",
             "Produced by `bench/sync_bench.py` (method in its docstring); raw figures in "
             "`sync-<preset>.json`. The sandbox enforces HubSpot's `pro` limit (190 requests "
             "per rolling 10 s); the sync's client budget counts each request until 10.1 s after "
             "its answer. The rate bound "
             "is calls ÷ 19/s (HubSpot's rate; our budget alone puts a long run at about "
             "≥ 1.02); the window bound is the rolling window's minimum "
             "(10 s × ⌊(calls − 1) ÷ 190⌋). The ratio is given where a run needs more than "
             "one window. Load is the 1-minute load average before / after the run (2 CPUs, "
             "shared).", ""]
    for path in sorted(RESULTS.glob("sync-*.json")):
        data = json.loads(path.read_text())
        lines += [f"## Preset `{data['preset']}` ({data['date']})", "",
                  f"- Machine: {data['machine']['cpus']} CPUs, {data['machine']['ram_gb']} GB "
                  f"RAM, Python {data['machine']['python']}, DuckDB {data['machine']['duckdb']}",
                  f"- Contacts in the sync model: {data['contacts']:,}; segments declared: "
                  f"{data['segments']}; day share: {data['day_share']:.0%}; batch requests "
                  f"in flight: {data.get('parallel', 8)}", "",
                  "| run | changed | batch updates | ⌈changed ÷ 100⌉ | contact reads | "
                  "property calls | API calls | retries | diff s | read s (reads/s) | "
                  "send s (batches/s) | wall s | rate bound s | window bound s | "
                  "wall ÷ rate bound | load |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [_row(run) for run in data["runs"]]
        days = [run["wall_over_rate_bound"] for run in data["runs"]
                if run["name"].startswith("day ") and run["wall_over_rate_bound"] is not None]
        if len(days) > 1:
            lines += ["", f"Median wall ÷ rate bound of the {len(days)} day runs: "
                          f"{statistics.median(days):.2f} (range {min(days):.2f}–{max(days):.2f})."]
        lines.append("")
    (RESULTS / "sync.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="demo", choices=("small", "demo", "large"))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--day-share", type=float, default=0.02)
    parser.add_argument("--portal", type=Path, help="use this portal instead of generating")
    parser.add_argument("--keep", action="store_true", help="keep the generated portal")
    parser.add_argument("--days", type=int, default=1,
                        help="day runs after `unchanged`, each on a fresh day's changes (a short "
                             "run's ratio is noisy: the table gives their median)")
    parser.add_argument("--parallel", type=int, default=4,
                        help="batch requests in flight (the sync's parallel_batches)")
    args = parser.parse_args()

    portal = args.portal or WORK / f"sync-{args.preset}.sqlite"
    if args.portal is None:
        generate(args.preset, args.seed, portal)
    warehouse = WORK / f"sync-{args.preset}.duckdb"
    warehouse.unlink(missing_ok=True)
    segments = declared_segments()
    ids = live_contact_ids(portal)
    rows = membership(ids, segments, args.seed)
    write_warehouse(warehouse, rows, segments)
    runs: list[RunFigures] = []
    try:
        with start_server(portal, extra_args=["--rate-limit", "pro"]) as server:
            runs.append(timed_run("first", server, warehouse, len(ids), args.parallel))
            runs.append(timed_run("unchanged", server, warehouse, len(ids), args.parallel))
            for day in range(1, args.days + 1):
                rows = move_some(rows, segments, args.day_share, args.seed + day)
                write_warehouse(warehouse, rows, segments)
                runs.append(timed_run("day" if args.days == 1 else f"day {day}", server,
                                      warehouse, len(ids), args.parallel))
    finally:
        if args.portal is None and not args.keep:
            portal.unlink(missing_ok=True)
        warehouse.unlink(missing_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"preset": args.preset, "seed": args.seed, "day_share": args.day_share,
              "parallel": args.parallel,
              "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "machine": machine(), "contacts": len(ids), "segments": len(segments),
              "runs": [asdict(r) for r in runs]}
    (RESULTS / f"sync-{args.preset}.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown()
    print((RESULTS / "sync.md").read_text())


if __name__ == "__main__":
    main()
