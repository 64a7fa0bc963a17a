"""A real PostgreSQL server for the portability tests, started and stopped by the suite.

Debian's `postgresql` package provides the binaries (`make test` installs it when missing).
initdb refuses to run as root, so the cluster belongs to the `postgres` OS user and lives in
a fresh temporary directory; clients connect over TCP on 127.0.0.1 with trust auth.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    dbname: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL binaries not found: run `make test` (it installs "
                           "Debian's postgresql package) or `apt-get install -y postgresql`")
    return found[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    root = tempfile.mkdtemp(prefix="hubseg-pg-")
    data = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as_postgres(_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                                "-E", "UTF8", "--no-sync"),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres(_bin("pg_ctl"), "-D", data, "-w", "-l",
                                os.path.join(root, "server.log"), "-o",
                                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
                                "start"),
                   check=True, capture_output=True)
    try:
        subprocess.run(_as_postgres(_bin("createdb"), "-h", "127.0.0.1", "-p", str(port),
                                    "-U", "postgres", "hubseg"),
                       check=True, capture_output=True)
        yield PostgresServer("127.0.0.1", port, "postgres", "hubseg")
    finally:
        subprocess.run(_as_postgres(_bin("pg_ctl"), "-D", data, "-m", "fast", "stop"),
                       check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
