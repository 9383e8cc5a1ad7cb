"""A real multi-node Ray cluster on this machine, and ``hpsearch run --address`` against it.

Every node is a real set of Ray processes (GCS on the head, one raylet per node) started by
``ray.cluster_utils.Cluster``; each node advertises its own CPUs (and fake GPUs where asked),
so Ray places trials exactly as on separate machines. The head listens on a free port, never
6379 (Redis holds that port on the development machines).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.helpers import FAST_FAILURE_DETECTION, Driver, free_port


@pytest.fixture
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty head node (no CPUs: trials and workers never land on it) on a free port.

    Ray's token authentication is switched off explicitly, for the cluster and for the
    drivers the test starts (they inherit the environment): Ray turns it on by itself when it
    finds a token on the machine (``~/.ray/auth_token``), and the test must not depend on what
    a developer's machine holds. The test adds worker nodes with ``cluster.add_node(...)``.
    """
    from ray._raylet import Config
    from ray.cluster_utils import Cluster

    # A private Ray temp dir: sessions, sockets and the "current cluster" address file stay
    # out of /tmp/ray, where other Ray users of this machine would find (and join) them.
    temp_dir = tempfile.mkdtemp(prefix="hc", dir="/tmp")  # short: socket paths are limited
    monkeypatch.setenv("RAY_TMPDIR", temp_dir)
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    Config.initialize("")  # this process's own GCS client reads the mode again
    port = free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0,
            "gcs_server_port": port,
            "include_dashboard": False,
            "_system_config": FAST_FAILURE_DETECTION,
        },
    )
    assert cluster.address.endswith(f":{port}")
    try:
        yield cluster
    finally:
        try:
            cluster.shutdown()
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def start_driver(tmp_path: Path) -> Iterator[Callable[[list[str]], Driver]]:
    """Start ``hpsearch run ...`` processes; any still running at the end are killed."""
    drivers: list[Driver] = []

    def start(args: list[str]) -> Driver:
        driver = Driver(args, tmp_path / f"driver-{len(drivers)}.log")
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.stop()
