"""SQLFluff (dbt templater, DuckDB dialect, the in-memory `lint` target) finds nothing."""

from __future__ import annotations

import subprocess

from tests.models.conftest import BIN, REPO, clean_env


def test_sqlfluff_lint_is_clean(tmp_path) -> None:
    env = clean_env(DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path))
    result = subprocess.run([str(BIN / "sqlfluff"), "lint", "models", "tests/dbt",
                             "--processes", "2", "--disable-progress-bar"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
