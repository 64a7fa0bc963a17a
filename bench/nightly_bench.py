"""Nightly benchmark: the whole loop (extract → dbt build → sync → publish), night after night.

    .venv/bin/python bench/nightly_bench.py --preset demo            # a few minutes
    .venv/bin/python bench/nightly_bench.py --preset large --nights 3 \
        --warmup-rate-limit off --portal bench/.work/large-42.pristine.sqlite   # the goal run

Night 1 loads the portal from scratch; before each later night the portal lives one simulated
day (`advance --days 1`: about 1% of contacts change) and the night runs incrementally. The
measured night is the last one: the goal is under 3 minutes on 2 cores at `large`, under the
`pro` rate limit (the server enforces it; the client budgets for tier `pro`).

Why three nights at `large`: night 1 is the one-off initial load, and its sync writes the
segment properties of every contact for the first time. HubSpot (and the sandbox) move a
contact's `lastmodifieddate` on every write, so night 2's extract re-reads every contact once;
from night 3 on, a night re-reads only what the day changed plus what the previous sync wrote.
Those warm-up nights need an hour or more under `pro` at `large` (20M events, then every
contact written and read back once), so `--warmup-rate-limit off` runs them without a limit
and switches the server to the measured limit for the last night. `--portal` copies an
existing pristine portal instead of generating one; `--resume` continues from the nights
already run (e.g. after a code change, or after a stopped run). Recorded per night and step:
wall time, API calls, peak memory of the step's process, rows loaded, models built, tests and
contacts written. Results: `bench/results/nightly-<preset>.json` and the table
`bench/results/nightly.md` (rebuilt from every `nightly-*.json`). The portal is generated
into `bench/.work/` once and kept for later runs (delete it to regenerate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hubseg.nightly.local import local_layout, portal_date, sandbox_env  # noqa: E402
from hubseg.nightly.run import NightlyOptions, run_nightly  # noqa: E402
from sandbox.server.process import start_server  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
ANCHOR = "2026-11-01"


def ensure_portal(preset: str, pristine: Path | None = None) -> Path:
    store = WORK / f"nightly-{preset}" / "portal.sqlite"
    store.parent.mkdir(parents=True, exist_ok=True)
    pristine = pristine or store.with_name("pristine.sqlite")
    if not pristine.exists():
        pristine.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "hubseg", "sandbox", "generate", "--preset",
                        preset, "--anchor", ANCHOR, "--store", str(pristine)], check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
    shutil.copyfile(pristine, store)  # every benchmark starts from the same portal
    return store


def night(server: Any, root: Path, tier: str) -> dict[str, Any]:
    started = time.monotonic()
    record = run_nightly(local_layout(root),
                         NightlyOptions(as_of_date=portal_date(server)),
                         secrets=(server.token,), env=sandbox_env(server, root, tier=tier))
    summary = record.summary()
    summary["wall_s"] = round(time.monotonic() - started, 1)
    print(f"  {record.run_id}: {record.status} in {summary['wall_s']} s — "
          + ", ".join(f"{s.name} {s.seconds:.0f} s" for s in record.steps.values()), flush=True)
    return summary


def tier_of(rate_limit: str) -> str:
    return "unlimited" if rate_limit == "off" else rate_limit


def run(preset: str, nights: int, rate_limit: str, warmup_rate_limit: str,
        pristine: Path | None, resume: bool) -> dict[str, Any]:
    """Night 1 (unless resuming), then a day of portal life before each later night.

    The server is restarted for every night (the portal lives in its store), and each finished
    night is saved, so `resume` continues from the last one, e.g. after a code change.
    """
    store = WORK / f"nightly-{preset}" / "portal.sqlite"
    root = store.parent / "loop"
    saved = store.with_name("nights.json")
    done: list[dict[str, Any]] = json.loads(saved.read_text()) if resume else []
    if not resume:
        store = ensure_portal(preset, pristine)
        shutil.rmtree(root, ignore_errors=True)
    days: list[dict[str, Any]] = []
    for number in range(len(done) + 1, nights + 1):
        limit = rate_limit if number == nights else warmup_rate_limit
        with start_server(store, extra_args=["--rate-limit", limit]) as server:
            if number > 1:
                started = time.monotonic()
                day = server.admin("POST", "advance", json={"days": 1}).json()
                days.append({k: v for k, v in day.items() if isinstance(v, (int, float, str))})
                print(f"advanced one day in {time.monotonic() - started:.0f} s", flush=True)
            print(f"night {number} of {nights} on {preset}, rate limit {limit}", flush=True)
            load = os.getloadavg()[0]
            record = night(server, root, tier_of(limit))
            record.update(rate_limit=limit, load_avg_1m_before=round(load, 2))
            done.append(record)
            saved.write_text(json.dumps(done, default=str))
    return {"preset": preset, "rate_limit": rate_limit, "warmup_rate_limit": warmup_rate_limit,
            "cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "advance": days[-1] if days else {}, "nights": done}


def write_results(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"nightly-{result['preset']}.json").write_text(json.dumps(result, indent=2,
                                                                         default=str))
    lines = ["# Nightly benchmark", "",
             "Whole loop per night; every night after the first runs after `advance --days 1`; "
             "the last night of a preset is the measured one. Times in seconds, "
             "peak memory of each step's process in MB. Regenerate: "
             "`.venv/bin/python bench/nightly_bench.py --preset <preset>`.", "",
             "| preset | rate limit | night | status | extract | build | sync | publish | "
             "total wall | API calls | rows loaded | contacts written | peak MB | date |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("nightly-*.json"))]
    runs = [data for data in runs if "nights" in data]  # not a raw record of one night
    for data in runs:
        for i, n in enumerate(data["nights"], start=1):
            steps = n["steps"]
            secs = [f"{steps.get(s, {}).get('seconds', 0):.1f}"
                    for s in ("extract", "build", "sync", "publish")]
            peak = max(s.get("peak_rss_mb", 0) for s in steps.values())
            limit = n.get("rate_limit", data["rate_limit"])
            lines.append(f"| {data['preset']} | {limit} | {i} | {n['status']} | "
                         + " | ".join(secs) + f" | {n['wall_s']} | {n['api_calls']:,} | "
                         f"{n['rows_loaded']:,} | {n['contacts_synced']:,} | {peak:.0f} | "
                         f"{data['date']} ({data['cpus']} CPUs) |")
    lines += [""] + [f"- {d['preset']}: {d['note']}" for d in runs if d.get("note")]
    (RESULTS / "nightly.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", choices=("small", "demo", "large"))
    limits = ("off", "starter", "pro", "enterprise")
    parser.add_argument("--rate-limit", default="pro", choices=limits)
    parser.add_argument("--nights", type=int, default=2,
                        help="nights to run, the first a full load (default 2; 3 at large)")
    parser.add_argument("--warmup-rate-limit", "--first-night-rate-limit", choices=limits,
                        help="the limit of every night but the last (default: --rate-limit)")
    parser.add_argument("--portal", type=Path, help="a pristine portal to copy (never modified)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the nights already run (their state is kept)")
    args = parser.parse_args()
    result = run(args.preset, args.nights, args.rate_limit,
                 args.warmup_rate_limit or args.rate_limit, args.portal, args.resume)
    write_results(result)
    print(f"written: {RESULTS / 'nightly.md'}")


if __name__ == "__main__":
    main()
