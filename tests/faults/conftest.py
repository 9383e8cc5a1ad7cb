"""Fixtures of the fault tests: a private PostgreSQL cluster that tests may restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.pgcluster import ClusterUnavailable, PrivatePostgres


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of this test session only, on a free port: restart it at will
    (``private_pg.restart()``); the shared server at 127.0.0.1:5432 is never touched."""
    try:
        cluster = PrivatePostgres()
        cluster.start()
    except ClusterUnavailable as exc:
        pytest.skip(f"no private PostgreSQL cluster here: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_pg_url(private_pg: PrivatePostgres) -> Iterator[str]:
    """A fresh, empty database on the private cluster, for one test."""
    name = private_pg.create_database()
    yield private_pg.url(name)
    private_pg.drop_database(name)
