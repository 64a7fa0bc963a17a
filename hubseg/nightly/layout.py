"""Where the nightly's files live, resolved once from the configuration and the environment.

- working warehouse (dlt, dbt and the sync write it; BI never opens it):
  `.hubseg/warehouse/hubseg.duckdb`, env `HUBSEG_WAREHOUSE`;
- published warehouse (BI reads it, read-only): `published.duckdb` beside the working one,
  env `HUBSEG_PUBLISHED`;
- run logs and summaries: `.hubseg/runs/<run id>/`, env `HUBSEG_RUNS_DIR`; the JSON summary of
  the last run: `<runs>/last_run.json`;
- dbt's target directory, kept from run to run so dbt re-parses only what changed:
  `<runs>/dbt-target` (each run keeps its own copy of `run_results.json`);
- the lock: `<working warehouse>.nightly.lock`;
- the dbt project: the current directory, env `HUBSEG_DBT_PROJECT_DIR`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_RUNS_DIR = Path(".hubseg/runs")
PUBLISHED_NAME = "published.duckdb"


@dataclass(frozen=True)
class Layout:
    working: Path
    published: Path
    runs_dir: Path
    project_dir: Path

    @property
    def lock(self) -> Path:
        """Beside the working warehouse: the lock guards that file, wherever it lives (its
        real path: two names of one file, through a symlink, must share one lock)."""
        working = self.working.resolve()
        return working.with_name(working.name + ".nightly.lock")

    @property
    def last_run(self) -> Path:
        return self.runs_dir / "last_run.json"

    @property
    def dbt_target(self) -> Path:
        return self.runs_dir / "dbt-target"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id


def resolve_layout(working: Path, *, published: Path | None = None,
                   runs_dir: Path | None = None, project_dir: Path | None = None) -> Layout:
    """Absolute paths, so child processes started elsewhere agree with us."""
    # Absolute, not resolved: dbt and the sync, given the same path, name the marts file
    # after it (`hubseg/marts_file.py`), so a symlink must stay a symlink here too.
    working = working.absolute()
    published = published or _env_path("HUBSEG_PUBLISHED") or working.with_name(PUBLISHED_NAME)
    runs_dir = runs_dir or _env_path("HUBSEG_RUNS_DIR") or DEFAULT_RUNS_DIR
    project_dir = project_dir or _env_path("HUBSEG_DBT_PROJECT_DIR") or Path.cwd()
    return Layout(working, published.resolve(), runs_dir.resolve(), project_dir.resolve())


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None
