"""Extractor benchmark: API calls, wall time, throughput and memory of `hubseg extract`.

    .venv/bin/python bench/extract_bench.py --preset demo            # ~10 minutes
    nohup .venv/bin/python bench/extract_bench.py --preset large --modes pro \
        > bench/.work/extract-large.log 2>&1 &
    # large takes ~30 min to generate: copy a kept portal (seed 42, anchor 2026-11-01) to
    # bench/.work/extract-large.sqlite and add --reuse (the copy is deleted afterwards)

Steps, on one generated portal (`bench/.work/extract-<preset>.sqlite`, git-ignored):

1. a full load with the sandbox's rate limits off and our limiter off (`tier = unlimited`);
2. a full load with the sandbox's `pro` preset and our limiter at `pro`;
3. one simulated day (`advance --days 1`), then an incremental run into each warehouse.

Each run is a child process (this script with `--child`), so its peak RSS is its own. Recorded
per run: API calls per resource against the minimum possible (⌈records / page size⌉ per
endpoint, from the portal's own counts), wall time and the extract / normalize / load /
events steps (pipelines/extract.py) with the process's CPU seconds in each (comparable on a
shared machine, where wall time is not), the rate-limit bound (calls ÷ allowed rate: 190 per
10 s, searches 5 per s), rows per second, peak RSS, and for incremental runs the share of the
full load's calls and time. Results go to `bench/results/extract-<preset>.json` and
`bench/results/extract.md` (rebuilt from every `extract-*.json`, then `extract-notes.md`,
written by hand). The portal and warehouses are deleted unless `--keep`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.server.process import RunningServer, start_server  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
ANCHOR = "2026-11-01"
PAGE = {"list": 100, "events": 1000, "campaigns": 500}
HUBSPOT_PRO = {"per_ten_seconds": 190, "search_per_second": 5}
TIERS = {"off": "unlimited", "pro": "pro"}  # sandbox rate-limit preset → our client's tier
# `hubseg extract`'s steps after `resume`. Since the email events load in packages of their own
# during the run (pipelines/events_lane.py), "events" is the wait, after the rest has loaded,
# for their remaining pages and last package; runs recorded before that have no such step ("–").
PHASES = ("extract", "normalize", "load", "events")


# -- one run, in a child process --------------------------------------------------------------

def child(args: argparse.Namespace) -> None:
    """Run one extract in this process and print its figures as JSON."""
    from hubseg.config import load_config
    from pipelines.extract import run_extract

    config = load_config(base_url=args.base_url, access_token=args.token, tier=args.tier,
                         path=Path(args.warehouse) / "hubseg.duckdb",
                         dlt_dir=Path(args.warehouse) / "dlt", index_lag_seconds=0)
    cpu_at: dict[str, float] = {}

    def on_step(name: str) -> None:  # CPU seconds of this process at the start of each step
        cpu_at[name] = _cpu_s()

    started = time.monotonic()
    report = run_extract(config, on_step=on_step)
    wall = time.monotonic() - started
    steps = [*cpu_at.items(), ("end", _cpu_s())]
    print(json.dumps({
        "wall_s": round(wall, 2), "phases_s": report.steps_s,
        "cpu_s": round(steps[-1][1], 2),
        "phases_cpu_s": {name: round(after - at, 2)
                         for (name, at), (_, after) in itertools.pairwise(steps)},
        "calls": report.calls, "retries": report.retries, "rows": report.rows,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stopped": report.stopped_by is not None,
    }))


def _cpu_s() -> float:
    """User + system CPU seconds of this process: unlike wall time, not inflated by other jobs
    on a shared machine (the sandbox server's CPU is its own process's, not counted)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_child(server: RunningServer, warehouse: Path, tier: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--base-url", server.base_url,
           "--token", server.token, "--tier", tier, "--warehouse", str(warehouse)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"extract run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- figures ------------------------------------------------------------------------------------

def pages(records: int, size: int) -> int:
    return max(1, math.ceil(records / size))


def minimum_full_calls(stats: dict[str, Any]) -> dict[str, int]:
    """The fewest requests a full load can make: one per page of every endpoint."""
    crm = {t: pages(o["live"], PAGE["list"]) + pages(o["archived"], PAGE["list"])
           for t, o in stats["objects"].items()}
    return {**crm, "email_events": pages(stats["email_events"]["total"], PAGE["events"]),
            "email_campaigns": pages(stats["campaigns"], PAGE["campaigns"]) + stats["campaigns"],
            "properties": 3, "deal_pipelines": 1}


def rate_bound_s(calls: dict[str, int], searches: int) -> float:
    """Seconds HubSpot's pro limits need for these calls at best (the two buckets overlap)."""
    general = sum(calls.values()) - searches
    return max(general / (HUBSPOT_PRO["per_ten_seconds"] / 10),
               searches / HUBSPOT_PRO["search_per_second"])


def search_calls(server: RunningServer) -> int:
    rows = server.admin("GET", "requests").json()["requests"]
    return sum(r["count"] for r in rows if r["route"].endswith("/search"))


def measure(server: RunningServer, warehouse: Path, tier: str) -> dict[str, Any]:
    server.admin("POST", "reset", json={"requests": True})
    run = run_child(server, warehouse, tier)
    run["searches"] = search_calls(server)
    run["total_calls"] = sum(run["calls"].values())
    run["total_rows"] = sum(run["rows"].values())
    run["rows_per_s"] = round(run["total_rows"] / run["wall_s"], 1)
    run["rate_bound_s"] = round(rate_bound_s(run["calls"], run["searches"]), 2)
    statuses = server.admin("GET", "requests").json()["requests"]
    run["http_429"] = sum(r["count"] for r in statuses if r["status"] == 429)
    return run


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# -- the benchmark --------------------------------------------------------------------------------

def generate(preset: str, seed: int, store: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "hubseg", "sandbox", "generate", "--preset", preset,
                    "--seed", str(seed), "--anchor", ANCHOR, "--store", str(store)],
                   cwd=ROOT, check=True, capture_output=True)
    return round(time.monotonic() - started, 1)


def bench(args: argparse.Namespace) -> dict[str, Any]:
    WORK.mkdir(parents=True, exist_ok=True)
    store = WORK / f"extract-{args.preset}.sqlite"
    generation_s = generate(args.preset, args.seed, store) if not args.reuse else None
    warehouses = {mode: WORK / f"extract-{args.preset}-{mode}" for mode in ("off", "pro")}
    for path in warehouses.values():
        shutil.rmtree(path, ignore_errors=True)
    modes = [m for m in ("off", "pro") if m in args.modes.split(",")]
    runs: dict[str, Any] = {}
    loads: dict[str, float] = {"start": load_average()}
    try:
        with start_server(store) as server:
            stats = server.admin("GET", "stats").json()
            for mode in modes:
                server.admin("PUT", "config", json={"rateLimit": mode})
                print(f"full load, rate limits {mode} …", flush=True)
                runs[f"full_{mode}"] = measure(server, warehouses[mode], TIERS[mode])
            advanced = server.admin("POST", "advance", json={"days": 1}).json()
            time.sleep(1.1)
            for mode in modes:
                server.admin("PUT", "config", json={"rateLimit": mode})
                print(f"incremental day, rate limits {mode} …", flush=True)
                runs[f"incremental_{mode}"] = measure(server, warehouses[mode], TIERS[mode])
            loads["end"] = load_average()
    finally:
        if not args.keep:
            for path in warehouses.values():
                shutil.rmtree(path, ignore_errors=True)
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)
    minimum = minimum_full_calls(stats)
    for mode in modes:
        full, inc = runs[f"full_{mode}"], runs[f"incremental_{mode}"]
        full["minimum_calls"] = sum(minimum.values())
        full["calls_over_minimum_pct"] = round(
            100 * (full["total_calls"] - full["minimum_calls"]) / full["minimum_calls"], 2)
        inc["calls_vs_full_pct"] = round(100 * inc["total_calls"] / full["total_calls"], 2)
        inc["wall_vs_full_pct"] = round(100 * inc["wall_s"] / full["wall_s"], 2)
    return {"preset": args.preset, "seed": args.seed, "date": _now(), "machine": _machine(),
            "load_average": loads, "generation_s": generation_s, "portal": _portal(stats),
            "minimum_calls": minimum, "advance": advanced, "runs": runs}


def _portal(stats: dict[str, Any]) -> dict[str, Any]:
    return {"objects": stats["objects"], "associations": stats["associations"],
            "campaigns": stats["campaigns"], "email_events": stats["email_events"]["total"],
            "properties": stats["properties"]}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _machine() -> dict[str, Any]:
    total_kb = next((int(line.split()[1]) for line in
                     Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:")), 0) if Path("/proc/meminfo").exists() else 0
    return {"cpus": os.cpu_count(), "ram_gb": round(total_kb / 1024 / 1024, 1),
            "python": platform.python_version()}


# -- report ---------------------------------------------------------------------------------------

def markdown() -> str:
    out = ["# Extractor benchmark", "",
           "Produced by `bench/extract_bench.py`; raw figures in `extract-<preset>.json`. "
           "Rate-limit bound = the time HubSpot's `pro` limits (190 requests per 10 s, 5 "
           "searches per s) need for the run's calls. The machine may be shared: a load "
           "average above its CPU count means other jobs inflated the times.", ""]
    for path in sorted(RESULTS.glob("extract-*.json")):
        out += _preset_section(json.loads(path.read_text()))
    notes = RESULTS / "extract-notes.md"  # written by hand: analysis, runs that did not finish
    if notes.exists():
        out.append(notes.read_text().rstrip("\n"))
    return "\n".join(out) + "\n"


def _preset_section(r: dict[str, Any]) -> list[str]:
    p = r["portal"]
    objects = ", ".join(f"{t} {o['live']:,} live + {o['archived']:,} archived"
                        for t, o in p["objects"].items())
    lines = [f"## Preset `{r['preset']}` ({r['date']})", "",
             f"- Machine: {r['machine']['cpus']} CPUs, {r['machine']['ram_gb']} GB RAM, "
             f"Python {r['machine']['python']}; load average {r['load_average']['start']} at "
             f"start, {r['load_average'].get('end', '?')} at end",
             f"- Portal: {objects}; {p['campaigns']:,} campaigns; {p['email_events']:,} email "
             f"events; {sum(p['properties'].values())} properties",
             f"- Minimum calls of a full load: {sum(r['minimum_calls'].values()):,} "
             f"({', '.join(f'{k} {v:,}' for k, v in r['minimum_calls'].items())})", "",
             "| run | API calls | vs minimum / vs full | retries | 429s | wall s | extract / "
             "normalize / load / events s | CPU s (same steps) | rate-limit bound s | "
             "rows | rows/s | peak RSS MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, run in r["runs"].items():
        ratio = (f"+{run['calls_over_minimum_pct']}%" if "calls_over_minimum_pct" in run
                 else f"{run['calls_vs_full_pct']}% calls, {run['wall_vs_full_pct']}% time")
        phases = " / ".join(str(run["phases_s"].get(k, "–")) for k in PHASES)
        cpu = "–"
        if "cpu_s" in run:
            parts = " / ".join(str(run["phases_cpu_s"].get(k, "–")) for k in PHASES)
            cpu = f"{run['cpu_s']} ({parts})"
        lines.append(
            f"| {name.replace('_', ' ')} | {run['total_calls']:,} | {ratio} | "
            f"{sum(run['retries'].values())} | {run['http_429']} | {run['wall_s']} | {phases} | "
            f"{cpu} | "
            f"{run['rate_bound_s']} | {run['total_rows']:,} | {run['rows_per_s']:,} | "
            f"{run['peak_rss_mb']} |")
    lines.append("")
    for name, run in r["runs"].items():
        if name.startswith("incremental"):
            by_resource = ", ".join(f"{k} {v:,}" for k, v in sorted(run["calls"].items()))
            lines.append(f"- {name.replace('_', ' ')} calls by resource: {by_resource} "
                         f"(of which searches {run['searches']:,})")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the portal and warehouses")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept portal")
    parser.add_argument("--modes", default="off,pro",
                        help="sandbox rate limits to run with: off, pro or off,pro")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    for name in ("--base-url", "--token", "--tier", "--warehouse"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    result = bench(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"extract-{args.preset}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "extract.md").write_text(markdown())
    print(markdown())


if __name__ == "__main__":
    main()
