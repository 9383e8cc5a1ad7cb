"""16 concurrent workers: 4 drivers start at once on an empty database; enqueued trials too."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest

from tests.faults.harness import (
    descendants,
    kill_tree,
    processes_mentioning,
    start_cli,
    wait_for,
)
from tests.helpers import load_study, sa_url
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow

SPACE = """
name: crowd
trials: 40
sampler: {type: tpe, seed: 7, n_startup_trials: 8}
pruner: {type: median}
early_stopping: {patience: null}
resources: {gpus_per_trial: 0, cpus_per_trial: 1}
retries: {max_retries: 2, heartbeat_interval: 1, grace_period: 20}
warm_start:
  - {learning_rate: 2.0e-4, per_device_train_batch_size: 4}
  - {learning_rate: 1.0e-3, per_device_train_batch_size: 8}
params:
  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}
  per_device_train_batch_size: {type: categorical, choices: [4, 8, 16]}
  effective_batch_size: 16
task:
  type: simulated
  max_steps: 20
  eval_steps: 5
  simulated: {seconds_per_step: 0.05}
"""


# A private test cluster: no token authentication (hpsearch's own drivers pass RAY_AUTH_MODE
# through; a token-authenticated cluster needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN).
NO_AUTH = {"RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sixteen_workers_four_drivers_enqueued_trials(fresh_pg_url: str, tmp_path: Path) -> None:
    space = tmp_path / "crowd.yaml"
    space.write_text(SPACE)
    ray_tmp = tempfile.mkdtemp(prefix="hc", dir="/tmp")
    port = _free_port()
    ray = str(Path(sys.executable).parent / "ray")
    head = subprocess.run(
        [
            ray,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=16",
            f"--temp-dir={ray_tmp}",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **NO_AUTH},
    )
    assert head.returncode == 0, head.stderr
    drivers: list[subprocess.Popen[str]] = []
    try:
        args = [
            "run",
            "--space",
            str(space),
            "--study",
            "crowd",
            "--storage",
            fresh_pg_url,
            "--address",
            f"127.0.0.1:{port}",
            "--workers",
            "4",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        ]
        drivers = [start_cli(args, env=NO_AUTH, log=tmp_path / f"driver{i}.log") for i in range(4)]
        # a user enqueues trials while the drivers run
        study = wait_for(
            lambda: (s := load_study(fresh_pg_url, "crowd")) and len(s.trials) >= 2 and s,
            240,
            "the study and its two warm-start trials",
        )
        enqueued = [
            {"learning_rate": 3e-4 * (i + 1), "per_device_train_batch_size": 8} for i in range(4)
        ]
        for params in enqueued:
            study.enqueue_trial(params)
        for i, driver in enumerate(drivers):
            assert driver.wait(timeout=600) == 0, (tmp_path / f"driver{i}.log").read_text()
    finally:
        for driver in drivers:
            if driver.poll() is None:
                kill_tree(driver)
        # Not `ray stop --force`: it kills every Ray process on the machine, other tests' too.
        kill_tree_by_dir(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)

    study = optuna.load_study(study_name="crowd", storage=sa_url(fresh_pg_url))
    check_study_invariants(study, budget=40)
    trials = study.trials
    assert len({t.user_attrs["driver"] for t in trials}) >= 2  # the drivers really shared work
    no_worker = [
        (t.number, t.state, t.user_attrs.get("fail_reason"))
        for t in trials
        if "worker" not in t.user_attrs
    ]
    assert not no_worker, no_worker
    assert len({(t.user_attrs["driver"], t.user_attrs["worker"]) for t in trials}) >= 8
    expected = [
        {"learning_rate": 2e-4, "per_device_train_batch_size": 4},
        {"learning_rate": 1e-3, "per_device_train_batch_size": 8},
        *enqueued,
    ]
    for params in expected:
        runs = [t for t in trials if t.params == params]
        assert len(runs) == 1, (params, [t.number for t in runs])  # each enqueued trial ran once
    warm = [t for t in trials if t.user_attrs.get("warm_start")]
    assert len(warm) == 2 and sorted(t.number for t in warm) == [0, 1]


def kill_tree_by_dir(directory: str) -> None:
    """SIGKILL this test's Ray head: the daemons that ``ray start`` gave ``directory`` on their
    command line, and their children (the workers)."""
    victims = processes_mentioning(directory)
    for pid in list(victims):
        victims |= descendants(pid)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
