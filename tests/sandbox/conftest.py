"""Fixtures of the sandbox conformance tests: the shared server's store and an SDK client."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from hubspot import HubSpot

from sandbox.server.process import RunningServer
from sandbox.store import connect
from tests.sandbox.helpers import sdk


@pytest.fixture(scope="module")
def store(shared_server: RunningServer) -> Iterator[sqlite3.Connection]:
    """The shared server's portal, read-only: what the API answers must agree with."""
    con = connect(shared_server.store, readonly=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def client(shared_server: RunningServer) -> HubSpot:
    return sdk(shared_server)
