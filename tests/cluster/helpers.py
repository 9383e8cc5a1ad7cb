"""Helpers for the cluster tests: free ports, the driver process, polling, a simulated space."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import optuna

T = TypeVar("T")


# Fast node-death detection for a test (Ray's defaults take ~15-30 s to declare a node dead;
# docs/operations.md explains the production values).
FAST_FAILURE_DETECTION = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 1000,
    "health_check_failure_threshold": 3,
}


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 6379:
            return port


class Driver:
    """``hpsearch run --address CLUSTER`` as a separate process, output kept in a file."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._handle = open(log, "w")  # noqa: SIM115 - closed in wait()
        env = {**os.environ}
        env.pop("RAY_ADDRESS", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hpsearch.search.cli.main", *args],
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )

    def output(self) -> str:
        return self.log.read_text()

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"driver did not finish in {timeout}s:\n{self.output()}") from None
        finally:
            self._handle.close()

    def stop(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait()
        self._handle.close()


def poll(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """``probe()`` until it returns something other than None/False, or fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(KeyError):  # the study may not exist yet
            found = probe()
            if found:
                return found
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_study(driver: Driver, url: str, name: str, timeout: float = 60) -> optuna.Study:
    """The study, once the driver has created it (never racing its schema creation)."""

    def created() -> bool:
        assert driver.running() or "Created study" in driver.output(), driver.output()
        return "Created study" in driver.output()

    poll(f"study {name!r}", created, timeout)
    return open_study(url, name)


def open_study(url: str, name: str) -> optuna.Study:
    return optuna.load_study(
        study_name=name, storage=url.replace("postgresql://", "postgresql+psycopg2://")
    )


SIM_SPACE = """
name: cluster-sim
trials: {trials}
sampler: {{type: random, seed: 3}}
pruner: {{type: none}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: {gpus}, cpus_per_trial: {cpus}}}
retries: {{max_retries: 2, heartbeat_interval: 1, grace_period: 5}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
  per_device_train_batch_size: 8
  effective_batch_size: 16
task:
  type: simulated
  max_steps: {max_steps}
  eval_steps: {eval_steps}
  simulated: {{seconds_per_step: {seconds_per_step}}}
"""


def write_space(
    folder: Path,
    *,
    trials: int,
    gpus: float = 0,
    cpus: float = 1,
    max_steps: int = 20,
    eval_steps: int = 4,
    seconds_per_step: float = 0.2,
) -> str:
    path = folder / "cluster-sim.yaml"
    path.write_text(
        SIM_SPACE.format(
            trials=trials,
            gpus=gpus,
            cpus=cpus,
            max_steps=max_steps,
            eval_steps=eval_steps,
            seconds_per_step=seconds_per_step,
        )
    )
    return str(path)
