"""Driver-side faults: kill -9 of the whole driver tree, orphaned trials, a database restart.

``hpsearch resume`` must complete the study from the database alone: Ray's own state, even its
session directory, is not needed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.faults.harness import kill_tree, start_cli, wait_for, write_hf_space
from tests.faults.pgcluster import PrivatePostgres
from tests.helpers import load_study, run_cli_process
from tests.search.invariants import check_study_invariants

pytestmark = pytest.mark.slow


@pytest.fixture
def ray_tmpdir() -> Iterator[str]:
    """A short private Ray temp dir (socket paths must stay under 107 characters)."""
    path = tempfile.mkdtemp(prefix="hr", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _state_counts(url: str, name: str) -> dict[TrialState, int]:
    counts: dict[TrialState, int] = {}
    for trial in load_study(url, name).get_trials(deepcopy=False):
        counts[trial.state] = counts.get(trial.state, 0) + 1
    return counts


@pytest.mark.parametrize("delete_ray_session", [False, True])
def test_sigkill_driver_tree_then_resume(
    fresh_pg_url: str,
    tiny_qwen3: str,
    text_jsonl: str,
    tmp_path: Path,
    ray_tmpdir: str,
    delete_ray_session: bool,
) -> None:
    space = write_hf_space(tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl, trials=4)
    args = ["--storage", fresh_pg_url, "--checkpoint-dir", str(tmp_path / "ck")]
    proc = start_cli(
        ["run", "--space", space, "--study", "dk", "--workers", "2", *args],
        env={"RAY_TMPDIR": ray_tmpdir},
        log=tmp_path / "run.log",
    )

    def running_with_checkpoint() -> bool:
        trials = load_study(fresh_pg_url, "dk").get_trials(deepcopy=False)
        return any(t.state == TrialState.COMPLETE for t in trials) and any(
            t.state == TrialState.RUNNING and max(t.intermediate_values, default=0) >= 8
            for t in trials
        )

    wait_for(running_with_checkpoint, 240, "a finished trial and a running one past step 8")
    kill_tree(proc, also_matching=ray_tmpdir)
    if delete_ray_session:
        shutil.rmtree(ray_tmpdir)
    assert _state_counts(fresh_pg_url, "dk").get(TrialState.RUNNING, 0) >= 1

    result = run_cli_process(
        "resume", "dk", *args, env={"RAY_TMPDIR": tempfile.mkdtemp(prefix="hr", dir="/tmp")}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    study = load_study(fresh_pg_url, "dk")
    check_study_invariants(study, budget=4)
    retries = [t for t in study.trials if "retry_of" in t.user_attrs]
    assert retries, "the killed running trials must continue as retries"
    resumed = [t for t in retries if t.user_attrs.get("resumed_from_checkpoint")]
    assert resumed, "a retry must resume from its predecessor's checkpoint"
    for trial in resumed:
        step = int(trial.user_attrs["resumed_from_checkpoint"].rsplit("-", 1)[1])
        if step == 24:  # killed after its last step: nothing left to train, nothing re-reported
            assert not trial.intermediate_values and trial.state == TrialState.COMPLETE
            continue
        assert min(trial.intermediate_values) > step
        assert max(trial.intermediate_values) == 24
    killed = [t for t in study.trials if t.user_attrs.get("retry_requested")]
    assert all("driver process is gone" in t.user_attrs["fail_reason"] for t in killed)


def test_kill_between_trial_creation_and_first_heartbeat(
    fresh_pg_url: str, tiny_qwen3: str, text_jsonl: str, tmp_path: Path, ray_tmpdir: str
) -> None:
    space = write_hf_space(
        tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl, trials=3, grace=4
    )
    args = ["--storage", fresh_pg_url, "--checkpoint-dir", str(tmp_path / "ck")]
    proc = start_cli(
        ["run", "--space", space, "--study", "orph", "--workers", "2", *args],
        env={"RAY_TMPDIR": ray_tmpdir, "HPSEARCH_FAILPOINTS": "driver.ask=kill@trial=1"},
    )
    assert proc.wait(timeout=240) == -9  # the driver killed itself right after creating trial 1
    kill_tree(proc, also_matching=ray_tmpdir)
    orphan = load_study(fresh_pg_url, "orph").trials[1]
    assert orphan.state == TrialState.RUNNING and "driver" not in orphan.user_attrs

    started = time.monotonic()
    result = run_cli_process("resume", "orph", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    study = load_study(fresh_pg_url, "orph")
    check_study_invariants(study, budget=3)
    orphan = study.trials[1]
    assert orphan.state == TrialState.FAIL and "no heartbeat" in orphan.user_attrs["fail_reason"]
    assert time.monotonic() - started < 240


def test_postgresql_restart_mid_study(
    private_pg: PrivatePostgres,
    private_pg_url: str,
    tiny_qwen3: str,
    text_jsonl: str,
    tmp_path: Path,
    ray_tmpdir: str,
) -> None:
    """The database restarts while two trials run (a private cluster: the shared server at
    127.0.0.1:5432 is never restarted): no trial is failed, the study completes."""
    url = private_pg_url
    space = write_hf_space(
        tmp_path / "s.yaml", model=tiny_qwen3, dataset=text_jsonl, trials=4, max_steps=32, grace=30
    )
    proc = start_cli(
        [
            "run",
            "--space",
            space,
            "--study",
            "pgr",
            "--workers",
            "2",
            "--storage",
            url,
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        ],
        env={"RAY_TMPDIR": ray_tmpdir},
        log=tmp_path / "run.log",
    )
    try:
        wait_for(
            lambda: _state_counts(url, "pgr").get(TrialState.RUNNING, 0) >= 2,
            240,
            "two running trials",
        )
        private_pg.restart("fast")
        wait_for(private_pg.is_ready, 60, "PostgreSQL back")
        assert proc.wait(timeout=400) == 0, (tmp_path / "run.log").read_text()
    finally:
        kill_tree(proc, also_matching=ray_tmpdir)
    study = load_study(url, "pgr")
    check_study_invariants(study, budget=4)
    assert not [t.number for t in study.trials if t.state == TrialState.FAIL]  # none wrongly failed
    assert len(study.trials) == 4


SIM_SPACE = """
name: term
trials: 4
sampler: {type: random, seed: 1}
pruner: {type: none}
early_stopping: {patience: null}
resources: {gpus_per_trial: 0, cpus_per_trial: 1}
params:
  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
task:
  type: simulated
  max_steps: 40
  eval_steps: 5
  simulated: {seconds_per_step: 0.1}
"""


def test_sigterm_hands_running_trials_over_to_resume(
    fresh_pg_url: str, tmp_path: Path, ray_tmpdir: str
) -> None:
    import signal

    space = tmp_path / "term.yaml"
    space.write_text(SIM_SPACE)
    args = ["--storage", fresh_pg_url, "--checkpoint-dir", str(tmp_path / "ck")]
    proc = start_cli(
        ["run", "--space", str(space), "--study", "term", "--workers", "2", *args],
        env={"RAY_TMPDIR": ray_tmpdir},
        log=tmp_path / "run.log",
    )
    try:
        wait_for(
            lambda: any(
                max(t.intermediate_values, default=0) >= 10
                for t in load_study(fresh_pg_url, "term").trials
                if t.state == TrialState.RUNNING
            ),
            240,
            "a running trial past 10",
        )
        proc.send_signal(signal.SIGTERM)  # a spot-preemption notice
        assert proc.wait(timeout=120) == 130, (tmp_path / "run.log").read_text()
    finally:
        kill_tree(proc, also_matching=ray_tmpdir)
    assert "hpsearch resume" in (tmp_path / "run.log").read_text()
    counts = _state_counts(fresh_pg_url, "term")
    assert counts.get(TrialState.RUNNING, 0) == 0 and counts.get(TrialState.WAITING, 0) >= 1
    result = run_cli_process("resume", "term", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    study = load_study(fresh_pg_url, "term")
    check_study_invariants(study, budget=4)
    handed = [t for t in study.trials if t.user_attrs.get("retry_requested") == "interrupted"]
    assert handed
    for trial in study.trials:
        if trial.user_attrs.get("retry_of") in {t.number for t in handed}:
            assert trial.user_attrs["retry_attempt"] == 0  # an interruption uses no retry
            assert trial.user_attrs.get("resumed_from_checkpoint")
