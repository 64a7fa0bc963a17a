"""What the incremental dbt day costs, and what it would cost without parts of it.

    .venv/bin/python bench/dbt_day_variants.py --preset large --raw-from-store --repeats 3

The question it answers: which parts of the nightly `dbt build` keep the incremental day from
a given share of the full build. It loads and fully builds the portal once, lets the portal
live a day and loads the changes, exactly as `bench/dbt_bench.py` does, and keeps two
snapshots of the warehouse: before the full build and before the day's build. Then, in turns
(so that a busy spell of the machine spreads over all of them), every variant builds
`--repeats` times, each time on a fresh copy of its snapshot at the same path (dbt's partial
parsing stays valid, as it does night after night):

- `full`: the full build, replayed (it parses the project from scratch, as a new warehouse's
  first build does);
- `day`: the day's build, with the nightly's selection (seeds, models and data tests);
- `day without data tests`, `day without campaign_segment_performance`, and without both;
- `start-up only`: nothing selected, which is dbt importing itself and its adapter and
  reading the project (with nothing to do it runs no hook and builds nothing);
- `incremental models alone`: the day's incremental models and staging views, no table model
  and no data test: what the day would cost if every table model (the as-of contact
  features, the campaign aggregates) cost nothing;
- `data tests alone`: the 205 data tests on the day's snapshot, no model rebuilt.

Start-up plus the last two is a floor for this design of the incremental models and tests:
the share of the full build left for the table models is the goal minus that floor.

Per variant: median wall time, dbt's execution time and CPU seconds, and the median wall time
as a share of the full build's. Results: `bench/results/dbt-day-variants-<preset>.json` and
`bench/results/dbt-day-variants.md`. No assertion on timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dbt_bench import BIN, RESULTS, Run, ensure_portal, timed  # noqa: E402
from hubseg.nightly.steps import NIGHTLY_BUILD_SELECTION  # noqa: E402
from sandbox.portal.advance import advance  # noqa: E402
from tests.models.conftest import portal_date  # noqa: E402

WITHOUT_TESTS = ("--exclude-resource-type", "test")
WITHOUT_CSP = ("--exclude", "campaign_segment_performance+")
# (label, snapshot, extra dbt arguments after the nightly's own selection)
VARIANTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("full", "prefull", ()),
    ("day", "preday", ()),
    ("day without data tests", "preday", WITHOUT_TESTS),
    ("day without campaign_segment_performance", "preday", WITHOUT_CSP),
    ("day without both", "preday", WITHOUT_TESTS + WITHOUT_CSP),
    ("start-up only", "preday", ("--select", "tag:hubseg_selects_nothing")),
    ("incremental models alone", "preday",
     ("--select", "config.materialized:incremental", "config.materialized:view", *WITHOUT_TESTS)),
    ("data tests alone", "preday", ("--resource-type", "test")),
)


def prepare(preset: str, seed: int, raw_from_store: bool) -> tuple[Run, dict[str, str]]:
    """Load, build and advance once; keep the warehouse before each build."""
    if not raw_from_store:
        raise SystemExit("only --raw-from-store is supported: a replay needs no API extract")
    store = ensure_portal(preset, seed)
    run = Run(store.parent / "warehouse", store, None)
    snapshots = store.parent / "day-variants"
    shutil.rmtree(snapshots, ignore_errors=True)
    as_of = {"prefull": portal_date(store)}
    run.load()
    shutil.copytree(run.root, snapshots / "prefull")
    run.build("full")
    advance(store, days=1)
    run.load()
    as_of["preday"] = portal_date(store)
    shutil.copytree(run.root, snapshots / "preday")
    return run, as_of


def replay(run: Run, snapshot: str, as_of: str, extra: tuple[str, ...]) -> dict[str, float]:
    """One build on a fresh copy of the snapshot, at the warehouse's own path."""
    shutil.rmtree(run.root)
    shutil.copytree(run.root.parent / "day-variants" / snapshot, run.root)
    os.sync()  # the copy's dirty pages are written now, not during the build
    cmd = [str(BIN / "dbt"), "build", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
           *NIGHTLY_BUILD_SELECTION, *extra]
    load = os.getloadavg()[0]
    usage = timed(cmd, {**run.env, "HUBSEG_AS_OF_DATE": as_of})
    if usage.returncode:
        raise SystemExit(f"dbt build failed:\n{usage.output[-5000:]}")
    results = json.loads((run.root / "target" / "run_results.json").read_text())
    return {"wall_s": round(usage.wall_s, 1), "execution_s": round(results["elapsed_time"], 1),
            "cpu_s": round(usage.cpu_s, 1), "nodes": len(results["results"]),
            "load_avg_1m_before": round(load, 2)}


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {f"median_{k}": round(statistics.median(r[k] for r in runs), 1)
            for k in ("wall_s", "execution_s", "cpu_s")} | {"nodes": runs[0]["nodes"],
                                                              "runs": runs}


def markdown(records: list[dict[str, Any]]) -> str:
    lines = ["# dbt day: what its parts cost", "",
             "Produced by `bench/dbt_day_variants.py` (see its docstring); raw figures in "
             "`dbt-day-variants-<preset>.json`. Every build of a variant starts from the same "
             "snapshot; medians of the runs, taken in turns with the other variants."]
    for record in records:
        full = record["variants"]["full"]["median_wall_s"]
        lines += ["", f"## {record['preset']}", "",
                  f"{record['repeats']} runs per variant, {record['date']} "
                  f"({record['machine_cpus']} CPUs), load average {record['load_avg_range']} "
                  "before the builds.", "",
                  "| variant | nodes | wall s | executing s | CPU s | wall / full build |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {label} | {v['nodes']} | {v['median_wall_s']} | "
                  f"{v['median_execution_s']} | {v['median_cpu_s']} | "
                  f"{v['median_wall_s'] / full:.0%} |"
                  for label, v in record["variants"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="large", choices=["small", "demo", "large"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--raw-from-store", action="store_true",
                        help="load the raw schema straight from the portal (required)")
    args = parser.parse_args()
    run, as_of = prepare(args.preset, args.seed, args.raw_from_store)
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in VARIANTS}
    for turn in range(args.repeats):
        for label, snapshot, extra in VARIANTS:
            runs[label].append(replay(run, snapshot, as_of[snapshot], extra))
            print(f"turn {turn + 1} {label}: {runs[label][-1]}", flush=True)
    loads = [r["load_avg_1m_before"] for rs in runs.values() for r in rs]
    record = {
        "preset": args.preset, "seed": args.seed, "repeats": args.repeats,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine_cpus": os.cpu_count(), "load_avg_range": f"{min(loads)}–{max(loads)}",
        "variants": {label: summary(rs) for label, rs in runs.items()},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"dbt-day-variants-{args.preset}.json").write_text(
        json.dumps(record, indent=2) + "\n")
    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("dbt-day-variants-*.json"))]
    (RESULTS / "dbt-day-variants.md").write_text(markdown(records))
    shutil.rmtree(run.root.parent / "day-variants", ignore_errors=True)
    print(markdown([record]))


if __name__ == "__main__":
    main()
