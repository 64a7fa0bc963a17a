"""One nightly at a time: a second one is refused at once; a killed one's lock is recovered."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hubseg.nightly.local import local_layout
from hubseg.nightly.lock import LockHeld, nightly_lock
from hubseg.nightly.steps import EXIT_LOCKED, EXIT_OK
from tests.nightly.conftest import REPO, make_marts, run_nightly_cli


def test_second_nightly_is_refused_while_one_holds_the_lock(tmp_path: Path) -> None:
    layout = local_layout(tmp_path)
    make_marts(layout.working, 30)
    with nightly_lock(layout.lock, "20261101T020000Z-abcdef"):
        refused = run_nightly_cli(tmp_path, "--only", "publish")
    assert refused.returncode == EXIT_LOCKED
    assert "already running" in refused.stderr
    assert "20261101T020000Z-abcdef" in refused.stderr  # says which run holds it
    assert not layout.published.exists()  # the refused run did nothing
    assert not layout.last_run.exists()


def test_lock_of_a_killed_nightly_is_recovered(tmp_path: Path) -> None:
    layout = local_layout(tmp_path)
    make_marts(layout.working, 30)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; "
         "from hubseg.nightly.lock import LockHeld, nightly_lock\n"
         "with nightly_lock(Path(sys.argv[1]), 'killed-run'):\n"
         "    print('held', flush=True); time.sleep(600)", str(layout.lock)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    assert run_nightly_cli(tmp_path, "--only", "publish").returncode == EXIT_LOCKED
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert json.loads(layout.lock.read_text())["run_id"] == "killed-run"  # left behind

    result = run_nightly_cli(tmp_path, "--only", "publish")
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(layout.last_run.read_text())["publish_status"] == "ok"
    assert layout.lock.read_text() == ""  # released cleanly this time


def test_lock_is_refused_without_waiting(tmp_path: Path) -> None:
    """A refused lock raises at once (a waiting one would hang until the test times out)."""
    layout = local_layout(tmp_path)
    with nightly_lock(layout.lock, "first"), \
            pytest.raises(LockHeld, match="first"), nightly_lock(layout.lock, "second"):
        pytest.fail("the second lock must not be granted")


@pytest.mark.parametrize(("args", "message"), [
    (("--as-of-date", "2026/11/01"), "--as-of-date must be YYYY-MM-DD"),
    (("--as-of-date", "20261101"), "--as-of-date must be YYYY-MM-DD"),  # ISO, but not dbt's
    (("--as-of-date", "2026-02-31"), "--as-of-date must be YYYY-MM-DD"),
    (("--vars", "[1]"), "--vars must be a JSON object"),
])
def test_bad_options_are_refused_before_anything_runs(tmp_path: Path, args: tuple[str, ...],
                                                      message: str) -> None:
    result = run_nightly_cli(tmp_path, *args)
    assert result.returncode == 2  # a usage error
    assert message in " ".join(result.stderr.split())
    assert not local_layout(tmp_path).last_run.exists()  # no run was started
