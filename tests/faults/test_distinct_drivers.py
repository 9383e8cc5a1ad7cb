"""Concurrent and resumed ``hpsearch run`` drivers never re-run a configuration.

Each driver process seeds its sampler from the space's ``seed``; without per-trial seeding
two drivers on one study (or a driver resumed after Ctrl-C) replay the same draws, so half the
budget re-runs configurations already in the study.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search.records import attributes as A
from tests.faults.harness import kill_tree, start_cli, wait_for
from tests.helpers import load_study, run_cli_process
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow

SPACE = """
name: distinct
trials: {trials}
sampler: {{type: tpe, seed: 1}}
pruner: {{type: none}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 0.5}}
retries: {{max_retries: 2, heartbeat_interval: 1, grace_period: 20}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
  per_device_train_batch_size: {{type: categorical, choices: [4, 8, 16]}}
  effective_batch_size: 16
task:
  type: simulated
  max_steps: 20
  eval_steps: 5
  simulated: {{seconds_per_step: {seconds}}}
"""

NO_AUTH = {"RAY_AUTH_MODE": "disabled"}  # a private test cluster


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """One Ray head the drivers join (cheaper than a private Ray per driver process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    ray_tmp = tempfile.mkdtemp(prefix="hd", dir="/tmp")
    ray = str(Path(sys.executable).parent / "ray")
    head = subprocess.run(
        [
            ray,
            "start",
            "--head",
            f"--port={port}",
            "--num-cpus=4",
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
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(
            [ray, "stop", "--force"],
            env={"RAY_TMPDIR": ray_tmp, "PATH": ""},
            capture_output=True,
            timeout=60,
            check=False,
        )
        from tests.faults.test_concurrency import kill_tree_by_dir

        kill_tree_by_dir(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _args(url: str, address: str, tmp_path: Path, workers: int = 2) -> list[str]:
    return [
        "--storage",
        url,
        "--address",
        address,
        "--workers",
        str(workers),
        "--checkpoint-dir",
        str(tmp_path / "ck"),
    ]


def _config(trial: optuna.trial.FrozenTrial) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(trial.params.items()))


def assert_no_configuration_repeats(study: optuna.Study) -> None:
    """Every trial that is not a retry has its own configuration; a retry has its
    predecessor's."""
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    originals = [t for t in trials if t.user_attrs.get(A.RETRY_OF) is None]
    configs = [_config(t) for t in originals]
    repeats = [
        (t.number, c) for t, c in zip(originals, configs, strict=True) if configs.count(c) > 1
    ]
    assert not repeats, repeats
    for trial in trials:
        prev = trial.user_attrs.get(A.RETRY_OF)
        if prev is not None:
            assert trial.params == by_number[prev].params, (trial.number, prev)


def test_two_concurrent_drivers_finish_the_budget_with_distinct_configurations(
    fresh_pg_url: str, tmp_path: Path, ray_head: str
) -> None:
    space = tmp_path / "distinct.yaml"
    space.write_text(SPACE.format(trials=6, seconds=0.25))
    args = [
        "run",
        "--space",
        str(space),
        "--study",
        "two",
        *_args(fresh_pg_url, ray_head, tmp_path),
    ]
    drivers = [start_cli(args, env=NO_AUTH, log=tmp_path / f"driver{i}.log") for i in range(2)]
    try:
        for i, driver in enumerate(drivers):
            assert driver.wait(timeout=400) == 0, (tmp_path / f"driver{i}.log").read_text()
    finally:
        for driver in drivers:
            if driver.poll() is None:
                kill_tree(driver)
    study = load_study(fresh_pg_url, "two")
    check_study_invariants(study, budget=6)
    trials = study.get_trials(deepcopy=False)
    assert len({t.user_attrs[A.DRIVER] for t in trials}) == 2  # both drivers ran trials
    assert len(trials) == 6
    assert len({_config(t) for t in trials}) == 6, [(t.number, _config(t)) for t in trials]


def test_resume_after_ctrl_c_adds_only_new_configurations(
    fresh_pg_url: str, tmp_path: Path, ray_head: str
) -> None:
    space = tmp_path / "distinct.yaml"
    space.write_text(SPACE.format(trials=10, seconds=0.1))
    args = _args(fresh_pg_url, ray_head, tmp_path)
    proc = start_cli(
        ["run", "--space", str(space), "--study", "resumed", *args],
        env=NO_AUTH,
        log=tmp_path / "run.log",
    )
    try:
        wait_for(
            lambda: (
                sum(
                    t.state == TrialState.COMPLETE
                    for t in load_study(fresh_pg_url, "resumed").trials
                )
                >= 2
            ),
            300,
            "two complete trials",
        )
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130, (tmp_path / "run.log").read_text()
    finally:
        kill_tree(proc)
    before = {t.number for t in load_study(fresh_pg_url, "resumed").trials}
    result = run_cli_process("resume", "resumed", *args, env=NO_AUTH, timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    study = load_study(fresh_pg_url, "resumed")
    check_study_invariants(study, budget=10)
    fresh = [
        t for t in study.trials if t.number not in before and t.user_attrs.get(A.RETRY_OF) is None
    ]
    assert fresh, "resume must have sampled new trials"
    assert_no_configuration_repeats(study)


def test_a_finite_space_stops_when_every_configuration_ran(
    fresh_pg_url: str, tmp_path: Path, ray_head: str
) -> None:
    """4 configurations, a budget of 6: each runs once and the run says why it stopped."""
    space = tmp_path / "finite.yaml"
    text = SPACE.format(trials=6, seconds=0.02).replace(
        "{type: float, low: 1.0e-5, high: 1.0e-2, log: true}",
        "{type: categorical, choices: [1.0e-4, 1.0e-3]}",
    )
    space.write_text(text.replace("choices: [4, 8, 16]", "choices: [8, 16]"))
    args = _args(fresh_pg_url, ray_head, tmp_path)
    result = run_cli_process("run", "--space", str(space), "--study", "finite", *args, env=NO_AUTH)
    assert result.returncode == 0, result.stdout + result.stderr
    trials = load_study(fresh_pg_url, "finite").get_trials(deepcopy=False)
    assert len({_config(t) for t in trials}) == len(trials), [_config(t) for t in trials]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert "exhausted: all 4 distinct configurations are in the study" in result.stdout
