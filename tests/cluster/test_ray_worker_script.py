"""docker/ray-worker.sh: replicas of the GPU worker service claim distinct GPUs.

This machine has no GPU and must not start Ray nodes outside a test cluster, so two programs
the script calls are replaced on PATH: ``nvidia-smi`` reports two GPUs (what the NVIDIA runtime
shows a container with ``count: all`` on a 2-GPU host) and ``ray`` records its arguments and
stays up like ``ray start --block``. Everything else is real: bash, flock, the lock files, and
the recorded ``ray start`` arguments are parsed by Ray's own CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.compose import ROOT

SCRIPT = ROOT / "docker" / "ray-worker.sh"


class Replicas:
    def __init__(self, tmp: Path, gpus: int) -> None:
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir(parents=True)
        self.records = tmp / "records"
        self.records.mkdir()
        indices = "\\n".join(str(i) for i in range(gpus))
        (self.bin / "nvidia-smi").write_text(f"#!/bin/sh\nprintf '{indices}\\n'\n")
        (self.bin / "ray").write_text(
            '#!/bin/sh\nprintf "%s\\n" "${CUDA_VISIBLE_DEVICES}" "$@" '
            '> "$RECORDS/$$.tmp" && mv "$RECORDS/$$.tmp" "$RECORDS/$$"\nexec sleep 120\n'
        )
        for tool in self.bin.iterdir():
            tool.chmod(0o755)
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["bash", str(SCRIPT)],
            env={
                "PATH": f"{self.bin}:{os.environ['PATH']}",
                "RECORDS": str(self.records),
                "GPU_LOCK_DIR": str(self.tmp / "locks"),
                "RAY_HEAD_ADDRESS": "ray-head:6379",
                **env,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def joined(
        self, proc: subprocess.Popen[str], timeout: float = 10
    ) -> tuple[str, dict[str, Any]]:
        """(CUDA_VISIBLE_DEVICES, parsed `ray start` options) once the replica has joined."""
        from ray.scripts.scripts import cli

        record = self.records / str(proc.pid)  # `exec` keeps the pid
        deadline = time.monotonic() + timeout
        while not record.exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the replica never started ray"
            time.sleep(0.05)
        visible, command, *args = record.read_text().splitlines()
        assert command == "start"
        return visible, dict(cli.commands["start"].make_context("start", args).params)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Any]:
    made: list[Replicas] = []

    def make(gpus: int) -> Replicas:
        made.append(Replicas(tmp_path / f"host{len(made)}", gpus))
        return made[-1]

    yield make
    for host in made:
        host.stop()


def test_replicas_claim_distinct_gpus_and_free_them_when_they_stop(replicas: Any) -> None:
    host = replicas(gpus=2)
    first = host.start()
    visible_a, options = host.joined(first)
    assert options["address"] == "ray-head:6379" and options["num_gpus"] == 1
    assert options["block"] and not options["head"]
    visible_b, _ = host.joined(host.start())
    assert {visible_a, visible_b} == {"0", "1"}

    third = host.start()
    out, _ = third.communicate(timeout=10)
    assert third.returncode == 1
    assert "only 0 of the 1 GPU(s) this replica needs are free on this host (2 in all)" in out

    os.killpg(first.pid, signal.SIGKILL)  # a replica dies: the kernel drops its lock
    first.wait()
    visible_c, _ = host.joined(host.start())
    assert visible_c == visible_a


def test_one_replica_can_take_every_gpu(replicas: Any) -> None:
    host = replicas(gpus=2)
    visible, options = host.joined(host.start(GPUS_PER_WORKER="all"))
    assert visible == "0,1" and options["num_gpus"] == 2


def test_without_gpus_it_joins_as_a_cpu_node_and_rejects_bad_settings(replicas: Any) -> None:
    host = replicas(gpus=0)
    visible, options = host.joined(host.start())
    assert visible == "" and options["num_gpus"] == 0
    bad = replicas(gpus=1).start(GPUS_PER_WORKER="two")
    out, _ = bad.communicate(timeout=10)
    assert bad.returncode == 2 and "GPUS_PER_WORKER must be a positive integer" in out
