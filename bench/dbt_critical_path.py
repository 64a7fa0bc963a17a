"""Where a `dbt build` spends its wall time: the longest chain of models, and what a schedule
of the same nodes would take if tests did not hold their model's children back.

    .venv/bin/python bench/dbt_critical_path.py \
        bench/.work/dbt-large/warehouse/run_results-incremental.json \
        bench/.work/dbt-large/warehouse/target/manifest.json

Reads a `run_results.json` (per-node execution times; `bench/dbt_bench.py --keep` leaves one
per build as `run_results-<label>.json` in the warehouse folder) and the `manifest.json` of the
same project. Prints:

- the node span (first node start to last node end, i.e. the build without dbt's start-up) and
  the node-seconds of models and of tests;
- the longest chain of models through the DAG, node by node: no number of threads makes the
  build shorter than this chain (plus start-up);
- a replay of the run's node times on the profile's 2 threads, as `dbt build` orders them
  (a model's children wait for its tests), with tests not blocking, and with no tests at all.
  The replay starts each ready node in the order it became ready; it is a model of dbt's
  scheduler, not dbt's scheduler, so compare its rows with each other, not with the span.
"""

from __future__ import annotations

import argparse
import heapq
import json
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

Deps = dict[str, list[str]]


def node_times(run_results: dict[str, Any]) -> dict[str, float]:
    return {r["unique_id"]: float(r["execution_time"]) for r in run_results["results"]}


def node_span(run_results: dict[str, Any]) -> float:
    stamps = [(datetime.fromisoformat(t["started_at"].replace("Z", "+00:00")),
               datetime.fromisoformat(t["completed_at"].replace("Z", "+00:00")))
              for r in run_results["results"] for t in r["timing"]]
    return (max(end for _, end in stamps) - min(start for start, _ in stamps)).total_seconds()


def dependencies(manifest: dict[str, Any], nodes: set[str]) -> Deps:
    """Each node's parents among the nodes that ran (seeds, models, tests)."""
    return {n: [d for d in manifest["nodes"][n].get("depends_on", {}).get("nodes", [])
                if d in nodes] for n in nodes}


def is_test(node: str) -> bool:
    return node.startswith("test.")


def with_blocking_tests(deps: Deps, blocks: Callable[[str], bool]) -> Deps:
    """`dbt build`'s extra edges: the children of a test's most downstream parent wait for it."""
    @cache
    def ancestors(node: str) -> frozenset[str]:
        found: set[str] = set()
        for parent in deps[node]:
            found |= {parent} | ancestors(parent)
        return frozenset(found)

    tests_of: dict[str, list[str]] = {}
    for test in (n for n in deps if is_test(n) and blocks(n)):
        parents = [p for p in deps[test] if not is_test(p)]
        for parent in parents:
            if not any(parent in ancestors(other) for other in parents if other != parent):
                tests_of.setdefault(parent, []).append(test)
    out = {n: list(parents) for n, parents in deps.items()}
    for node in (n for n in deps if not is_test(n)):
        for parent in deps[node]:
            out[node] += [t for t in tests_of.get(parent, []) if t != node]
    return out


def replay(deps: Deps, times: dict[str, float], threads: int) -> float:
    """Wall time of running the nodes on `threads`, each started as soon as it is ready."""
    waiting = {n: len(set(parents)) for n, parents in deps.items()}
    children: dict[str, list[str]] = {n: [] for n in deps}
    for node in sorted(deps):  # a fixed order: the replay is the same on every run
        for parent in sorted(set(deps[node])):
            children[parent].append(node)
    ready = sorted(n for n, count in waiting.items() if count == 0)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < threads:
            node = ready.pop(0)
            heapq.heappush(running, (now + times[node], node))
        now, done = heapq.heappop(running)
        for child in children[done]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return now


def longest_model_chain(deps: Deps, times: dict[str, float]) -> tuple[float, list[str]]:
    @cache
    def chain(node: str) -> tuple[float, tuple[str, ...]]:
        best: tuple[float, tuple[str, ...]] = (0.0, ())
        for parent in (p for p in deps[node] if not is_test(p)):
            best = max(best, chain(parent))
        return best[0] + times[node], best[1] + (node,)

    total, nodes = max(chain(n) for n in deps if not is_test(n))
    return total, list(nodes)


def report(run_results_path: Path, manifest_path: Path, threads: int) -> str:
    run_results = json.loads(run_results_path.read_text())
    manifest = json.loads(manifest_path.read_text())
    times = node_times(run_results)
    deps = dependencies(manifest, set(times) & set(manifest["nodes"]))
    tests = sum(t for n, t in times.items() if is_test(n))
    total, chain = longest_model_chain(deps, times)
    no_tests = {n: (0.0 if is_test(n) else t) for n, t in times.items()}
    as_built = replay(with_blocking_tests(deps, lambda _: True), times, threads)
    lines = [
        f"node span {node_span(run_results):.1f} s; node-seconds: models "
        f"{sum(times.values()) - tests:.1f}, tests {tests:.1f}",
        f"longest chain of models: {total:.1f} s",
        *(f"  {times[n]:5.2f}  {n.split('.')[-1]}" for n in chain if times[n] >= 0.05),
        f"replay on {threads} threads: as dbt build {as_built:.1f} s, tests not blocking "
        f"{replay(deps, times, threads):.1f} s, "
        f"without tests {replay(deps, no_tests, threads):.1f} s",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_results", type=Path)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(report(args.run_results, args.manifest, args.threads))


if __name__ == "__main__":
    main()
