"""Shared fixtures: a generated `small` portal and sandbox servers started on it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox.server.process import RunningServer, start_server
from tests.postgres import PostgresServer, running_postgres


@pytest.fixture(scope="session")
def small_portal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `small` portal generated once per test session (fixed seed and anchor)."""
    from sandbox.portal.generate import generate

    path = tmp_path_factory.mktemp("portal") / "small.sqlite"
    generate(path, preset="small", seed=7, anchor="2026-11-01", custom_properties=0)
    return path


@pytest.fixture
def portal_copy(small_portal: Path, tmp_path: Path) -> Path:
    """A private copy of the small portal that a test may change freely."""
    dest = tmp_path / "portal.sqlite"
    shutil.copyfile(small_portal, dest)
    return dest


@pytest.fixture(scope="session")
def shared_server(small_portal: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[RunningServer]:
    """One read-mostly server for tests that do not write (faster than a server per test)."""
    dest = tmp_path_factory.mktemp("shared") / "portal.sqlite"
    shutil.copyfile(small_portal, dest)
    with start_server(dest) as server:
        yield server


@pytest.fixture
def make_server(portal_copy: Path) -> Iterator[Callable[..., RunningServer]]:
    """Start servers on this test's own portal copy, with extra `serve` flags."""
    started: list[RunningServer] = []

    def _make(*extra_args: str) -> RunningServer:
        server = start_server(portal_copy, extra_args=list(extra_args))
        started.append(server)
        return server

    yield _make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., RunningServer]) -> RunningServer:
    """A fresh server on a private copy of the small portal (writes allowed)."""
    return make_server()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for this test session (Debian's binaries, a temp cluster)."""
    with running_postgres() as server:
        yield server
