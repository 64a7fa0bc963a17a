"""What a `dbt build` did, read from its `run_results.json` (dbt's machine-readable artefact).

A node blocks the sync when its status is `error` (a model, seed or snapshot failed, or a test
could not run) or `fail` (a test of error severity found rows). `warn` (a test whose severity
is warn) and `skipped` for other reasons are reported but do not block.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BLOCKING = frozenset({"error", "fail", "runtime error"})
TEST_TYPES = frozenset({"test", "unit_test"})
BUILT_TYPES = frozenset({"model", "seed", "snapshot"})


@dataclass
class BuildOutcome:
    models_built: int = 0
    models_failed: int = 0
    tests_passed: int = 0
    tests_failed: int = 0
    tests_warned: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)  # unique ids of the blocking nodes

    @property
    def blocking(self) -> bool:
        return bool(self.failures)

    def metrics(self) -> dict[str, int]:
        return {"models_built": self.models_built, "models_failed": self.models_failed,
                "tests_passed": self.tests_passed, "tests_failed": self.tests_failed,
                "tests_warned": self.tests_warned, "skipped": self.skipped}


def read_run_results(path: Path) -> BuildOutcome | None:
    """None when dbt stopped before writing results (e.g. a compilation error)."""
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return None
    outcome = BuildOutcome()
    counts: Counter[tuple[str, str]] = Counter()
    for node in results:
        kind = str(node.get("unique_id", "")).split(".", 1)[0]
        status = str(node.get("status", "")).lower()
        counts[(kind, status)] += 1
        if status in BLOCKING:
            reason = _reason(node.get("message")) if kind == "model" else ""
            outcome.failures.append(str(node.get("unique_id")) + (f" ({reason})" if reason
                                                                  else ""))
    for (kind, status), n in counts.items():
        _count(outcome, kind, status, n)
    return outcome


def _reason(message: object, limit: int = 300) -> str:
    """A failed model's error without dbt's heading line ("Runtime Error in model x (path)"),
    on one line: the reason a user needs on the terminal (the file was scrubbed already)."""
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    text = " ".join(lines[1:] or lines)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _count(outcome: BuildOutcome, kind: str, status: str, n: int) -> None:
    if status == "skipped":
        outcome.skipped += n
    elif kind in TEST_TYPES:
        if status == "pass":
            outcome.tests_passed += n
        elif status == "warn":
            outcome.tests_warned += n
        else:
            outcome.tests_failed += n
    elif kind in BUILT_TYPES:
        if status == "success":
            outcome.models_built += n
        else:
            outcome.models_failed += n
