"""dbt benchmark: a full `dbt build` and an incremental one a simulated day later.

    .venv/bin/python bench/dbt_bench.py --preset demo     # ~10k contacts: a few minutes
    .venv/bin/python bench/dbt_bench.py --preset large    # 1M contacts, ~16M events: long

Steps: generate the portal into `bench/.work/dbt-<preset>/` (once; kept for later runs), serve
it, `hubseg extract` it into a fresh DuckDB warehouse (or, with `--raw-from-store`, write the
portal straight into the raw schema with bench/raw_from_store.py: the same tables without the
hours a 16M-event API extract takes), then time `dbt build` as the nightly job runs it
(models, seeds and data tests; unit tests run in CI, not nightly) as of the portal's date.
Then the portal lives one day (`advance --days 1`), an incremental extract loads the
changes, and a second `dbt build` runs incrementally. For each build: wall time, dbt's own
execution time (the rest is start-up and parsing), CPU seconds and peak RSS of the dbt process
(DuckDB runs inside it), and the slowest nodes. Goals: full build of `large` under 5 minutes
on 2 cores; the incremental day under 25% of the full build. Results:
`bench/results/dbt-<preset>.json` and the table `bench/results/dbt.md` (rebuilt from every
`dbt-*.json`). No assertion on timing.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.raw_from_store import load as load_raw  # noqa: E402
from hubseg.nightly.steps import NIGHTLY_BUILD_SELECTION  # noqa: E402
from sandbox.portal.advance import advance  # noqa: E402
from sandbox.server.process import RunningServer, start_server  # noqa: E402
from tests.models.conftest import clean_env, portal_date  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
ANCHOR = "2026-11-01"
PRESETS = ("small", "demo", "large")
BIN = Path(sys.executable).parent


def ensure_portal(preset: str, seed: int) -> Path:
    """A pristine portal per preset and seed, generated once; each run works on a copy."""
    pristine = WORK / f"dbt-{preset}" / f"pristine-{seed}.sqlite"
    if not pristine.exists():
        pristine.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating the {preset} portal (seed {seed})…", flush=True)
        subprocess.run([sys.executable, "-m", "hubseg", "sandbox", "generate", "--preset",
                        preset, "--seed", str(seed), "--anchor", ANCHOR, "--store",
                        str(pristine)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    store = pristine.with_name(f"portal-{seed}.sqlite")
    shutil.copyfile(pristine, store)
    return store


@dataclass(frozen=True)
class Usage:
    wall_s: float
    cpu_s: float  # user + system: steadier than wall time on a shared machine
    peak_rss_mb: float
    returncode: int
    output: str


def timed(cmd: list[str], env: dict[str, str]) -> Usage:
    """Run `cmd` and measure it (rusage of this very child, from wait4)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Usage(time.monotonic() - started, usage.ru_utime + usage.ru_stime,
                 usage.ru_maxrss / 1024, proc.returncode, output)


class Run:
    """One warehouse: load the portal into it and build it, recording every step."""

    def __init__(self, root: Path, store: Path, server: RunningServer | None,
                 memory_limit: str = "") -> None:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        self.root, self.store, self.server = root, store, server
        self.loads = 0
        self.env = clean_env(HUBSEG_WAREHOUSE=str(root / "hubseg.duckdb"),
                             HUBSEG_DLT_DIR=str(root / "dlt"),
                             DBT_TARGET_PATH=str(root / "target"),
                             DBT_LOG_PATH=str(root / "logs"),
                             HUBSEG_DBT_MEMORY_LIMIT=memory_limit)  # "": DuckDB's default
        if server is not None:
            self.env.update(HUBSPOT_BASE_URL=server.base_url, HUBSPOT_ACCESS_TOKEN=server.token,
                            HUBSPOT_TIER="unlimited", SOURCES__HUBSPOT__INDEX_LAG_SECONDS="0")

    def load(self) -> dict[str, Any]:
        """`hubseg extract`, or the direct raw load without a server."""
        self.loads += 1
        if self.server is None:
            return self.load_raw()
        usage = timed([sys.executable, "-m", "hubseg", "extract", "--quiet"], self.env)
        if usage.returncode:
            raise SystemExit(f"extract failed:\n{usage.output[-3000:]}")
        print(f"  extract: {usage.wall_s:.1f} s — {usage.output.strip()}", flush=True)
        return {"wall_s": round(usage.wall_s, 1), "method": "hubseg extract",
                "peak_rss_mb": round(usage.peak_rss_mb), "summary": usage.output.strip()}

    def load_raw(self) -> dict[str, Any]:
        """The portal straight into the raw schema. The first load of a pristine portal is
        cached next to it (writing 20M events takes a while, and it never changes)."""
        warehouse = self.root / "hubseg.duckdb"
        cache = self.store.with_name(f"raw-{self.store.stem}-load1.duckdb")
        started = time.monotonic()
        if self.loads == 1 and cache.exists():
            shutil.copyfile(cache, warehouse)
            counts: dict[str, Any] = {"cached": str(cache.name)}
        else:
            counts = load_raw(self.store, warehouse, load_id=f"{time.time():.6f}")
            if self.loads == 1:
                shutil.copyfile(warehouse, cache)
        wall = time.monotonic() - started
        print(f"  raw load: {wall:.1f} s — {counts}", flush=True)
        return {"wall_s": round(wall, 1), "method": "raw_from_store", "rows": counts}


    def build(self, label: str) -> dict[str, Any]:
        as_of = portal_date(self.store)
        # As `hubseg nightly` runs it: its selection, and the as-of date as an env var (a var
        # that changes every day makes dbt re-parse the whole project; macros/as_of_date.sql).
        cmd = [str(BIN / "dbt"), "build", "--project-dir", str(ROOT), "--profiles-dir",
               str(ROOT), *NIGHTLY_BUILD_SELECTION]
        load = os.getloadavg()[0]
        usage = timed(cmd, {**self.env, "HUBSEG_AS_OF_DATE": as_of})
        if usage.returncode:
            raise SystemExit(f"dbt build failed:\n{usage.output[-5000:]}")
        wall, rss = usage.wall_s, usage.peak_rss_mb
        results_file = self.root / "target" / "run_results.json"
        shutil.copyfile(results_file, self.root / f"run_results-{label}.json")  # with --keep
        results = json.loads(results_file.read_text())
        nodes = results["results"]
        by_type: dict[str, float] = {}
        for node in nodes:
            kind = node["unique_id"].split(".")[0]
            by_type[kind] = by_type.get(kind, 0.0) + node["execution_time"]
        slowest = sorted(nodes, key=lambda n: -n["execution_time"])[:8]
        record = {
            "as_of_date": as_of, "wall_s": round(wall, 1),
            "execution_s": round(results["elapsed_time"], 1), "cpu_s": round(usage.cpu_s, 1),
            "peak_rss_mb": round(rss), "nodes": len(nodes),
            "node_seconds_by_type": {k: round(v, 1) for k, v in sorted(by_type.items())},
            "slowest": [[n["unique_id"], round(n["execution_time"], 1)] for n in slowest],
            "load_avg_1m_before": round(load, 2),
        }
        print(f"  {label} build: {wall:.1f} s wall ({record['execution_s']} s executing, "
              f"{record['cpu_s']} s CPU), peak {rss:.0f} MB", flush=True)
        return record


def counted(root: Path, queries: dict[str, str]) -> dict[str, int]:
    """Each query's single number, read from the built warehouse."""
    from hubseg.marts_file import connect_working

    con = connect_working(root / "hubseg.duckdb", read_only=True)
    try:
        return {name: con.execute(sql).fetchone()[0] for name, sql in queries.items()}
    finally:
        con.close()


def sizes(root: Path) -> dict[str, int]:
    return counted(root, {t: f"select count(*) from {t}" for t in (
        "hubspot.contacts", "hubspot.email_events", "marts.dim_contacts",
        "marts.fct_email_sends", "marts.contact_segments",
        "marts.campaign_segment_performance")})


def day_changes(root: Path, as_of: str) -> dict[str, int]:
    """What the incremental day changed: why recomputing per campaign or per contact does not
    pay (a day touches most campaigns), measured rather than assumed."""
    rewritten = ("from marts.fct_email_sends where dbt_updated_at = "
                 "(select max(dbt_updated_at) from marts.fct_email_sends)")
    return counted(root, {
        "campaigns": "select count(distinct campaign_id) from marts.fct_email_sends",
        "campaigns_with_a_message_rewritten": f"select count(distinct campaign_id) {rewritten}",
        "messages_rewritten": f"select count(*) {rewritten}",
        "contacts": "select count(*) from marts.dim_contacts",
        "contacts_that_changed_segments": (
            "select count(distinct contact_id) from marts.segment_membership_history "
            f"where valid_from = date '{as_of}' or valid_to = date '{as_of}'"),
    })


def two_days(warehouse: Run) -> tuple[dict[str, Any], ...]:
    """Load and build; advance the portal a day; load and build again."""
    print("full load", flush=True)
    first_load = warehouse.load()
    full = warehouse.build("full")
    if warehouse.server is None:
        advance(warehouse.store, days=1)
    else:
        warehouse.server.admin("POST", "advance", json={"days": 1}).raise_for_status()
    print("one day later", flush=True)
    second_load = warehouse.load()
    return first_load, full, second_load, warehouse.build("incremental")


def run(preset: str, seed: int, raw_from_store: bool, memory_limit: str = "") -> dict[str, Any]:
    store = ensure_portal(preset, seed)
    root = store.parent / "warehouse"
    if raw_from_store:
        warehouse = Run(root, store, None, memory_limit)
        first_extract, full, second_extract, incremental = two_days(warehouse)
    else:
        with start_server(store) as server:
            warehouse = Run(root, store, server, memory_limit)
            first_extract, full, second_extract, incremental = two_days(warehouse)
    record = {
        "preset": preset, "seed": seed, "anchor": ANCHOR,
        "dbt_memory_limit": memory_limit or "DuckDB's default (80% of RAM)",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "rows": sizes(warehouse.root),
        "day_changes": day_changes(warehouse.root, incremental["as_of_date"]),
        "load": {"full": first_extract, "incremental": second_extract},
        "build": {"full": full, "incremental": incremental},
        "incremental_share_of_full": round(incremental["wall_s"] / full["wall_s"], 3),
    }
    return record


def markdown(records: list[dict[str, Any]]) -> str:
    lines = [
        "# dbt benchmark",
        "",
        "Produced by `bench/dbt_bench.py` (see its docstring); raw figures in "
        "`dbt-<preset>.json`. `dbt build` as the nightly job runs it: seeds, models and data "
        "tests (runs recorded before 2026-12-01 also ran the unit tests). Wall time includes "
        "dbt's start-up and parsing; peak RSS is the dbt "
        "process, DuckDB included. Goals: `large` full build < 300 s on 2 cores; the "
        "incremental day < 25% of the full build. A load average above the CPU count means "
        "other jobs shared the machine and inflated the times.",
        "",
        "| preset | build | wall s | executing s | CPU s | peak MB | nodes | load avg | "
        "contacts | email events | raw load | date |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in records:
        for kind in ("full", "incremental"):
            b = r["build"][kind]
            lines.append(
                f"| {r['preset']} | {kind} | {b['wall_s']} | {b['execution_s']} | "
                f"{b.get('cpu_s', '')} | {b['peak_rss_mb']} | {b['nodes']} | "
                f"{b['load_avg_1m_before']} | {r['rows']['hubspot.contacts']:,} | "
                f"{r['rows']['hubspot.email_events']:,} | "
                f"{r.get('load', {}).get('full', {}).get('method', 'hubseg extract')} | "
                f"{r['date']} ({r['machine']['cpus']} CPUs) |")
    lines.append("")
    for r in records:
        full, inc = r["build"]["full"], r["build"]["incremental"]
        lines += [f"## {r['preset']}", "",
                  f"- incremental / full wall time: {r['incremental_share_of_full']:.0%}",
                  *([f"- what the day changed: {r['day_changes']}"]
                    if r.get("day_changes") else []),
                  *([f"- incremental / full CPU time: {inc['cpu_s'] / full['cpu_s']:.0%}"]
                    if full.get("cpu_s") and inc.get("cpu_s") else []),
                  f"- node seconds by type, full: {full['node_seconds_by_type']}",
                  f"- node seconds by type, incremental: {inc['node_seconds_by_type']}",
                  *(f"- slowest nodes ({kind}): " + ", ".join(
                      f"{uid.split('.')[-1]} {s} s" for uid, s in build["slowest"])
                    for kind, build in (("full", full), ("incremental", inc))),
                  ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo", choices=PRESETS)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the warehouse afterwards")
    parser.add_argument("--raw-from-store", action="store_true",
                        help="load the raw schema straight from the portal (no API extract)")
    parser.add_argument("--dbt-memory-limit", default="",
                        help="cap DuckDB's memory while dbt builds, e.g. 3GB "
                             "(HUBSEG_DBT_MEMORY_LIMIT); default: DuckDB's own")
    args = parser.parse_args()
    record = run(args.preset, args.seed, args.raw_from_store, args.dbt_memory_limit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"dbt-{args.preset}.json").write_text(json.dumps(record, indent=2) + "\n")
    records = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("dbt-*.json"))
               if p.stem.split("-", 1)[1] in PRESETS]  # not dbt-day-variants-*.json
    (RESULTS / "dbt.md").write_text(markdown(records) + "\n")
    if not args.keep:
        shutil.rmtree(WORK / f"dbt-{args.preset}" / "warehouse", ignore_errors=True)
    print(json.dumps(record["build"], indent=2))


if __name__ == "__main__":
    main()
