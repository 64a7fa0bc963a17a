"""Nightly benchmark: the whole loop (extract → dbt build → sync → publish), twice.

    .venv/bin/python bench/nightly_bench.py --preset demo            # a few minutes
    .venv/bin/python bench/nightly_bench.py --preset large --first-night-rate-limit off \
        --portal bench/.work/large-42.pristine.sqlite                # the recorded goal run

Night 1 loads the portal from scratch; then the portal lives one simulated day
(`advance --days 1`: about 1% of contacts change) and night 2 runs incrementally — the goal is
night 2 under 3 minutes on 2 cores at `large`, under the `pro` rate limit (the server enforces
it; the client budgets for tier `pro`). Night 1 is the one-off initial load; at `large` it
needs some 40 minutes under `pro` (20M events, then every contact written once), so
`--first-night-rate-limit off` runs it without a limit and switches the server to the
measured limit before night 2. `--portal` copies an existing pristine portal instead of
generating one. Recorded per night and step:
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
                         NightlyOptions(dbt_vars={"as_of_date": portal_date(server)}),
                         secrets=(server.token,), env=sandbox_env(server, root, tier=tier))
    summary = record.summary()
    summary["wall_s"] = round(time.monotonic() - started, 1)
    print(f"  {record.run_id}: {record.status} in {summary['wall_s']} s — "
          + ", ".join(f"{s.name} {s.seconds:.0f} s" for s in record.steps.values()), flush=True)
    return summary


def tier_of(rate_limit: str) -> str:
    return "unlimited" if rate_limit == "off" else rate_limit


def run(preset: str, rate_limit: str, first_rate_limit: str, pristine: Path | None,
        resume: bool) -> dict[str, Any]:
    """Night 1 (unless `resume`), then a day of portal life and night 2.

    The server is restarted between the nights (the portal lives in its store), so night 2 can
    also be run later with `--resume`, e.g. after a code change, from night 1's state.
    """
    store = WORK / f"nightly-{preset}" / "portal.sqlite"
    root = store.parent / "loop"
    first_record = store.with_name("night1.json")
    if not resume:
        store = ensure_portal(preset, pristine)
        shutil.rmtree(root, ignore_errors=True)
        with start_server(store, extra_args=["--rate-limit", first_rate_limit]) as server:
            print(f"night 1 (full load) on {preset}, rate limit {first_rate_limit}", flush=True)
            first_record.write_text(json.dumps(night(server, root, tier_of(first_rate_limit)),
                                               default=str))
    first = json.loads(first_record.read_text())
    with start_server(store, extra_args=["--rate-limit", rate_limit]) as server:
        started = time.monotonic()
        day = server.admin("POST", "advance", json={"days": 1}).json()
        print(f"advanced one day in {time.monotonic() - started:.0f} s", flush=True)
        print(f"night 2 (after advance --days 1), rate limit {rate_limit}", flush=True)
        load = os.getloadavg()[0]
        second = night(server, root, tier_of(rate_limit))
        second["load_avg_1m_before"] = round(load, 2)
    return {"preset": preset, "rate_limit": rate_limit, "first_night_rate_limit":
            first_rate_limit, "cpus": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "advance": {k: v for k, v in day.items() if isinstance(v, (int, float, str))},
            "nights": [first, second]}


def write_results(result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"nightly-{result['preset']}.json").write_text(json.dumps(result, indent=2,
                                                                         default=str))
    lines = ["# Nightly benchmark", "",
             "Whole loop per night; night 2 runs after `advance --days 1`. Times in seconds, "
             "peak memory of each step's process in MB. Regenerate: "
             "`.venv/bin/python bench/nightly_bench.py --preset <preset>`.", "",
             "| preset | rate limit | night | status | extract | build | sync | publish | "
             "total wall | API calls | rows loaded | contacts written | peak MB | date |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(RESULTS.glob("nightly-*.json")):
        data = json.loads(path.read_text())
        for i, n in enumerate(data["nights"], start=1):
            steps = n["steps"]
            secs = [f"{steps.get(s, {}).get('seconds', 0):.1f}"
                    for s in ("extract", "build", "sync", "publish")]
            peak = max(s.get("peak_rss_mb", 0) for s in steps.values())
            lines.append(f"| {data['preset']} | {data['rate_limit']} | {i} | {n['status']} | "
                         + " | ".join(secs) + f" | {n['wall_s']} | {n['api_calls']:,} | "
                         f"{n['rows_loaded']:,} | {n['contacts_synced']:,} | {peak:.0f} | "
                         f"{data['date']} ({data['cpus']} CPUs) |")
    notes = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("nightly-*.json"))]
    lines += [""] + [f"- {d['preset']}: {d['note']}" for d in notes if d.get("note")]
    (RESULTS / "nightly.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", choices=("small", "demo", "large"))
    limits = ("off", "starter", "pro", "enterprise")
    parser.add_argument("--rate-limit", default="pro", choices=limits)
    parser.add_argument("--first-night-rate-limit", choices=limits,
                        help="night 1's limit (default: --rate-limit)")
    parser.add_argument("--portal", type=Path, help="a pristine portal to copy (never modified)")
    parser.add_argument("--resume", action="store_true",
                        help="skip night 1: run night 2 from the state the last night 1 left")
    args = parser.parse_args()
    result = run(args.preset, args.rate_limit, args.first_night_rate_limit or args.rate_limit,
                 args.portal, args.resume)
    write_results(result)
    print(f"written: {RESULTS / 'nightly.md'}")


if __name__ == "__main__":
    main()
