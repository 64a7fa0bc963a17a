"""Start `hubseg sandbox serve` in a child process and wait until it answers.

Used by the tests, the benchmarks and `make demo`, so all three drive the very same server a
user runs by hand.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests


@dataclass
class RunningServer:
    base_url: str
    token: str
    process: subprocess.Popen[str]
    store: Path

    def admin(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """Call the test-only `/_sandbox/…` surface."""
        return requests.request(method, f"{self.base_url}/_sandbox/{path.lstrip('/')}",
                                timeout=600, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(store: Path | str, *, port: int = 0, timeout: float = 60.0,
                 extra_args: list[str] | None = None) -> RunningServer:
    """Launch the server on `store` and return once it printed its URL and token."""
    cmd = [sys.executable, "-m", "hubseg", "sandbox", "serve", "--store", str(store),
           "--port", str(port), *(extra_args or [])]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None, text=True, env=env)
    values: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"sandbox server exited with {proc.returncode}")
            continue
        key, sep, value = line.strip().partition("=")
        if sep and key in ("HUBSPOT_BASE_URL", "HUBSPOT_ACCESS_TOKEN"):
            values[key] = value
        if len(values) == 2:
            break
    else:
        proc.kill()
        raise RuntimeError("sandbox server did not start in time")
    return RunningServer(values["HUBSPOT_BASE_URL"], values["HUBSPOT_ACCESS_TOKEN"], proc,
                         Path(store))
