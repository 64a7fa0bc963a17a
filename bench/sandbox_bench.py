"""Sandbox benchmark: portal generation cost and request latency of the hot HubSpot routes.

    .venv/bin/python bench/sandbox_bench.py --preset demo     # a couple of minutes
    .venv/bin/python bench/sandbox_bench.py --preset large    # generation takes a long while

Steps: generate the portal into `bench/.work/` in a child process (its wall time and peak RSS
are recorded), start the real server on it (`sandbox.server.process.start_server`, the very
server users run), warm each operation up, then time ≥ 50 samples of each:

- a 100-contact list page with every contact property, at random `after` positions;
- a 1,000-event page of `/email/public/v1/events` ending at a random time;
- a contacts search `lastmodifieddate GTE x` sorted by `hs_object_id`, limit 200;
- a batch update of 100 random contacts.

Requests go through one keep-alive `requests.Session`, so the figures are the server's answer
time plus loopback HTTP, without the SDK's model deserialisation. Results are written to
`bench/results/sandbox-<preset>.json` and the table `bench/results/sandbox.md` (rebuilt from
every `sandbox-*.json` present). The portal is deleted afterwards unless `--keep`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.server.objects_repo import encode_cursor  # noqa: E402
from sandbox.server.process import RunningServer, start_server  # noqa: E402
from sandbox.store import connect  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
ANCHOR = "2026-11-01"  # fixed, so every run of a preset measures the same portal
TIMEOUT = 300


@dataclass
class Timing:
    name: str
    samples: int
    median_ms: float
    p95_ms: float
    min_ms: float
    max_ms: float
    mean_bytes: int


@dataclass
class Generation:
    seconds: float
    peak_rss_mb: float
    store_mb: float
    counts: dict[str, int]


# -- machine and portal facts -------------------------------------------------------------------

def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kb = next((int(line.split()[1]) for line in meminfo.splitlines()
                     if line.startswith("MemTotal:")), 0)
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "ram_gb": round(total_kb / 1024 / 1024, 1), "cpu": cpu,
            "platform": platform.platform(), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version}


def load_average() -> float:
    """The 1-minute load average: the machine is shared, so figures need this context."""
    return round(os.getloadavg()[0], 2)


def portal_counts(store: Path) -> dict[str, int]:
    con = connect(store, readonly=True)
    try:
        counts = dict(con.execute(
            "select object_type, count(*) from objects where archived = 0 group by object_type"))
        for table in ("email_campaigns", "email_events"):
            counts[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
        return counts
    finally:
        con.close()


# -- generation ---------------------------------------------------------------------------------

def generate(preset: str, seed: int, store: Path) -> Generation:
    """Run `hubseg sandbox generate` as a child; its peak RSS comes from RUSAGE_CHILDREN.

    The generator is the only child waited for at this point, so `ru_maxrss` (the largest
    waited-for descendant, in KiB on Linux) is the generator's own peak.
    """
    store.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "hubseg", "sandbox", "generate", "--preset", preset,
           "--seed", str(seed), "--anchor", ANCHOR, "--store", str(store)]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    size = sum(Path(f"{store}{s}").stat().st_size for s in ("", "-wal")
               if Path(f"{store}{s}").exists())
    return Generation(seconds=round(seconds, 1), peak_rss_mb=round(peak_kib / 1024, 1),
                      store_mb=round(size / 1e6, 1), counts=portal_counts(store))


# -- the measured operations --------------------------------------------------------------------

class Workload:
    """The four operations, each a zero-argument call that performs one random request."""

    def __init__(self, server: RunningServer, store: Path, rng: random.Random) -> None:
        self.base = server.base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {server.token}"
        self.rng = rng
        con = connect(store, readonly=True)
        try:
            self.contact_ids = [r[0] for r in con.execute(
                "select id from objects where object_type = 'contacts' and archived = 0")]
            self.event_span = con.execute(
                "select min(created), max(created) from email_events").fetchone()
            self.modified_span = con.execute(
                "select min(updated_ms), max(updated_ms) from objects "
                "where object_type = 'contacts'").fetchone()
        finally:
            con.close()
        self.properties = self._contact_property_names()

    def _call(self, method: str, path: str, **kwargs: object) -> int:
        response = self.session.request(method, self.base + path, timeout=TIMEOUT,
                                        **kwargs)  # type: ignore[arg-type]
        if response.status_code not in (200, 207):
            raise RuntimeError(f"{method} {path} → {response.status_code}: "
                               f"{response.text[:300]}")
        return len(response.content)

    def _contact_property_names(self) -> list[str]:
        response = self.session.get(f"{self.base}/crm/v3/properties/contacts", timeout=TIMEOUT)
        response.raise_for_status()
        return [p["name"] for p in response.json()["results"]]

    def list_page(self) -> int:
        """100 contacts with every property, from a random place in the id order."""
        after = self.rng.choice(self.contact_ids)
        return self._call("GET", "/crm/v3/objects/contacts", params={
            "limit": 100, "after": encode_cursor(after),
            "properties": ",".join(self.properties)})

    def events_page(self) -> int:
        """1,000 events ending at a random moment of the portal's history (30-day window)."""
        low, high = self.event_span
        end = self.rng.randint(low, high)
        return self._call("GET", "/email/public/v1/events", params={
            "limit": 1000, "startTimestamp": end - 30 * 86_400_000, "endTimestamp": end})

    def search(self) -> int:
        low, high = self.modified_span
        since = self.rng.randint(low, high)
        return self._call("POST", "/crm/v3/objects/contacts/search", json={
            "filterGroups": [{"filters": [{"propertyName": "lastmodifieddate",
                                           "operator": "GTE", "value": str(since)}]}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["email", "lastmodifieddate"], "limit": 200})

    def batch_update(self) -> int:
        ids = self.rng.sample(self.contact_ids, 100)
        stamp = self.rng.randrange(10**9)
        return self._call("POST", "/crm/v3/objects/contacts/batch/update", json={
            "inputs": [{"id": str(i), "properties": {"jobtitle": f"bench {stamp}"}}
                       for i in ids]})

    def operations(self) -> dict[str, Callable[[], int]]:
        return {
            "contacts list page (100, all properties)": self.list_page,
            "email events page (1,000)": self.events_page,
            "contacts search (GTE lastmodifieddate, 200)": self.search,
            "contacts batch update (100)": self.batch_update,
        }


def measure(name: str, operation: Callable[[], int], samples: int, warmup: int) -> Timing:
    for _ in range(warmup):
        operation()
    millis: list[float] = []
    sizes: list[int] = []
    for _ in range(samples):
        started = time.perf_counter()
        sizes.append(operation())
        millis.append((time.perf_counter() - started) * 1000)
    p95 = statistics.quantiles(millis, n=100, method="inclusive")[94]
    return Timing(name=name, samples=samples, median_ms=round(statistics.median(millis), 1),
                  p95_ms=round(p95, 1), min_ms=round(min(millis), 1),
                  max_ms=round(max(millis), 1), mean_bytes=int(statistics.mean(sizes)))


# -- reporting ----------------------------------------------------------------------------------

def markdown(results: list[dict]) -> str:
    """One table of figures per preset, newest run of each preset file."""
    lines = ["# Sandbox benchmark", "",
             "Produced by `bench/sandbox_bench.py` (see `bench/README.md`); raw figures in "
             "`sandbox-<preset>.json`. Latencies are wall-clock per request over loopback "
             "HTTP with keep-alive, after warm-up. The machine may be shared: a load average "
             "above its CPU count means other jobs competed for it and inflated the figures.",
             ""]
    for result in results:
        m, g = result["machine"], result["generation"]
        counts = ", ".join(f"{k} {v:,}" for k, v in g["counts"].items())
        lines += [
            f"## Preset `{result['preset']}` ({result['date']})", "",
            f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['ram_gb']} GB RAM, "
            f"Python {m['python']}, SQLite {m['sqlite']}",
            f"- Portal: {counts}; store {g['store_mb']:,} MB; "
            f"{result['contact_properties']} contact properties",
            f"- Generation: {g['seconds']:,} s wall, peak RSS {g['peak_rss_mb']:,} MB",
            f"- Load average (1 min) before generation / before timing / after timing: "
            f"{load_text(result)}",
            "",
            "| operation | samples | median ms | p95 ms | min ms | max ms | mean response bytes |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [f"| {t['name']} | {t['samples']} | {t['median_ms']} | {t['p95_ms']} | "
                  f"{t['min_ms']} | {t['max_ms']} | {t['mean_bytes']:,} |"
                  for t in result["timings"]]
        lines.append("")
    return "\n".join(lines)


def load_text(result: dict) -> str:
    load = result.get("load_average_1m")
    if not load:
        return "not recorded"
    keys = ("before_generation", "before_timing", "after_timing")
    figures = " / ".join(str(load.get(k, "?")) for k in keys)
    return f"{figures} on {result['machine']['nproc']} CPUs"


def write_results(result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"sandbox-{result['preset']}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    order = {"small": 0, "demo": 1, "large": 2}
    everything = sorted((json.loads(p.read_text()) for p in RESULTS.glob("sandbox-*.json")),
                        key=lambda r: order.get(r["preset"], 9))
    (RESULTS / "sandbox.md").write_text(markdown(everything))
    return path


def remove_store(store: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)


def run(preset: str, seed: int, samples: int, warmup: int, keep: bool) -> dict:
    store = WORK / f"sandbox-{preset}.sqlite"
    load = {"before_generation": load_average()}
    try:
        print(f"generating preset {preset} into {store} …", flush=True)
        generation = generate(preset, seed, store)
        print(f"generated in {generation.seconds} s, peak RSS {generation.peak_rss_mb} MB: "
              f"{generation.counts}", flush=True)
        with start_server(store, timeout=600) as server:
            workload = Workload(server, store, random.Random(seed))
            load["before_timing"] = load_average()
            timings = []
            for name, operation in workload.operations().items():
                timing = measure(name, operation, samples, warmup)
                print(f"{name}: median {timing.median_ms} ms, p95 {timing.p95_ms} ms",
                      flush=True)
                timings.append(asdict(timing))
            load["after_timing"] = load_average()
    finally:
        if not keep:
            remove_store(store)
    return {"preset": preset, "seed": seed, "anchor": ANCHOR,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "load_average_1m": load, "generation": asdict(generation),
            "contact_properties": len(workload.properties), "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="demo", help="small, demo or large")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--samples", type=int, default=60, help="timed requests per operation")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first")
    parser.add_argument("--keep", action="store_true", help="keep the generated portal")
    args = parser.parse_args()
    if args.samples < 50:
        parser.error("--samples must be at least 50 (the p95 needs them)")
    result = run(args.preset, args.seed, args.samples, args.warmup, args.keep)
    print(f"results: {write_results(result)} and {RESULTS / 'sandbox.md'}")


if __name__ == "__main__":
    main()
