"""The real driver on the simulated pool (simulated clock) and on the in-process pool: no Ray.

Budget exactness under retries, the out-of-memory retry with the batch halved, a worker lost
mid-trial, a stale heartbeat reaped on the simulated clock, and the lineage of retries. Each
study runs through ``execute`` (what ``hpsearch run`` runs) on a SQLite file, in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search.engine import (
    InProcessPool,
    RunRequest,
    SimClock,
    SimStep,
    SimulatedPool,
    TrialTask,
    WorkerLost,
    execute,
)
from hpsearch.search.records import attributes as A
from hpsearch.storage import storage_of, trial_id_of
from hpsearch.trainers import OutOfMemoryError
from tests.search.invariants import check_study_invariants

SPACE = """
name: sim
trials: {trials}
sampler: {{type: random, seed: 3}}
pruner: {{type: {pruner}}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
retries: {{max_retries: 2, heartbeat_interval: 10, grace_period: 60}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
  per_device_train_batch_size: {{type: categorical, choices: [{batches}]}}
  effective_batch_size: 16
task:
  type: simulated
  max_steps: 20
  eval_steps: 5
"""


def write_space(tmp_path: Path, *, trials: int, pruner: str = "none", batches: str = "4, 8") -> str:
    path = tmp_path / "sim.yaml"
    path.write_text(SPACE.format(trials=trials, pruner=pruner, batches=batches))
    return str(path)


class Trainer:
    """Evaluations every 5 steps of 20, 10 simulated seconds per step; the value falls with
    the learning rate's distance to 1e-3. Failures are injected per trial number."""

    def __init__(
        self,
        *,
        oom_batch_above: int | None = None,
        lose_worker: Mapping[int, int] | None = None,
    ) -> None:
        self.oom_batch_above = oom_batch_above
        self.lose_worker = dict(lose_worker or {})  # trial number -> step after which it dies
        self.batches: dict[int, int] = {}  # trial number -> per-device batch it ran with

    def __call__(self, task: TrialTask, params: Mapping[str, Any]) -> Iterator[SimStep]:
        batch = task.config.hparams.per_device_train_batch_size
        self.batches[task.number] = batch
        lr = float(params["learning_rate"])
        for step in range(5, 21, 5):
            if self.oom_batch_above is not None and batch > self.oom_batch_above:
                raise OutOfMemoryError(f"out of memory with per-device batch {batch}", step=1)
            value = abs(math.log10(lr) + 3) + 1.0 / step
            yield SimStep(step, value, seconds=10.0 * step, final=step == 20)
            if self.lose_worker.get(task.number) == step:
                raise WorkerLost(f"worker of trial {task.number} died at step {step}")


def run(
    tmp_path: Path,
    space: str,
    pool: Any,
    study: str = "s",
    reap_interval: float = 100.0,
    trials: int | None = None,
) -> optuna.Study:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    request = RunRequest(
        space=space,
        study=study,
        storage=url,
        trials=trials,
        checkpoint_dir=str(tmp_path / "ck"),
        pool=pool,
        reap_interval=reap_interval,
        status_interval=1000.0,
    )
    execute(request, emit=lambda line: None)
    return optuna.load_study(study_name=study, storage=url)


def counts(study: optuna.Study) -> dict[TrialState, int]:
    out: dict[TrialState, int] = {}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state] = out.get(trial.state, 0) + 1
    return out


@pytest.mark.parametrize("workers", [1, 3])
def test_budget_is_exact_on_simulated_time(tmp_path: Path, workers: int) -> None:
    pool = SimulatedPool(workers, Trainer())
    study = run(tmp_path, write_space(tmp_path, trials=7), pool)
    assert counts(study) == {TrialState.COMPLETE: 7}
    assert pool.compute_used == 7 * 20
    # 200 simulated seconds a trial, ``workers`` at a time: the clock, not the wall, moved.
    assert pool.sim_clock.now() == pytest.approx(200.0 * -(-7 // workers))
    assert all(t.user_attrs[A.WALL_TIME] == 200.0 for t in study.trials)
    assert [r.state for r in pool.records] == ["COMPLETE"] * 7
    check_study_invariants(study, 7)


def test_oom_retry_halves_the_batch_and_keeps_the_budget(tmp_path: Path) -> None:
    trainer = Trainer(oom_batch_above=4)
    pool = SimulatedPool(2, trainer)
    study = run(tmp_path, write_space(tmp_path, trials=5, batches="8"), pool)
    trials = study.get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 5 and len(failed) == 5  # every original OOMs once, its retry fits
    for retry in complete:
        original = study.trials[retry.user_attrs[A.RETRY_OF]]
        assert original.user_attrs[A.RETRY_REQUESTED] == A.RETRY_OOM
        assert retry.user_attrs[A.OOM_DOWNSCALE] == 2
        assert trainer.batches[original.number] == 8
        assert trainer.batches[retry.number] == 4
        assert retry.user_attrs[A.PER_DEVICE_BATCH] == 4
        assert retry.user_attrs[A.GRAD_ACCUM] == 4  # effective batch 16 kept
        assert retry.params == original.params
    check_study_invariants(study, 5)


def test_an_oom_with_the_batch_already_halved_is_infeasible(tmp_path: Path) -> None:
    pool = SimulatedPool(1, Trainer(oom_batch_above=2))
    study = run(tmp_path, write_space(tmp_path, trials=2, batches="8"), pool)
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert len(pruned) == 2
    assert all(t.user_attrs[A.INFEASIBLE] == "memory" for t in pruned)
    assert all(t.user_attrs[A.OOM_DOWNSCALE] == 2 for t in pruned)


def test_a_lost_worker_is_replaced_and_its_trial_retried(tmp_path: Path) -> None:
    pool = SimulatedPool(2, Trainer(lose_worker={0: 10, 1: 5}))
    study = run(tmp_path, write_space(tmp_path, trials=4), pool)
    assert counts(study) == {TrialState.COMPLETE: 4, TrialState.FAIL: 2}
    lost = [t for t in study.trials if t.state == TrialState.FAIL]
    assert sorted(t.number for t in lost) == [0, 1]
    for trial in lost:
        assert trial.user_attrs[A.RETRY_REQUESTED] == A.RETRY_WORKER_LOST
        (retry,) = [t for t in study.trials if t.user_attrs.get(A.RETRY_OF) == trial.number]
        assert retry.state == TrialState.COMPLETE
        assert retry.params == trial.params
        assert retry.user_attrs[A.RETRY_ATTEMPT] == 1
    # a retry after a lost worker runs from its first step again: 2 + 1 wasted evaluations
    assert pool.compute_used == 4 * 20 + 10 + 5
    assert [r.state for r in pool.records].count("LOST") == 2
    check_study_invariants(study, 4)


def test_a_stale_trial_is_reaped_on_the_simulated_clock(tmp_path: Path) -> None:
    """A RUNNING trial left by a driver on another host stops heartbeating at simulated time 0;
    the driver reaps it once 60 simulated seconds (the grace period) have passed, and its
    retry, with the same parameters and its lineage, is run within the same budget."""
    space = write_space(tmp_path, trials=3)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # The study, with one orphan: create it through a first, one-trial run, then add the
    # orphan as another host's driver would have left it.
    first = SimulatedPool(1, Trainer())
    run(tmp_path, write_space(tmp_path, trials=1), first)
    study = optuna.load_study(study_name="s", storage=url)
    orphan = study.ask(
        {
            "learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True),
            "per_device_train_batch_size": optuna.distributions.CategoricalDistribution([4, 8]),
        }
    )
    orphan.set_user_attr(A.DRIVER, "another-host:1:1")
    clock = SimClock()
    pool = SimulatedPool(1, Trainer(), clock=clock)
    clock.stamp_heartbeat(storage_of(study), trial_id_of(orphan))  # its last heartbeat, at time 0
    study = run(tmp_path, space, pool, reap_interval=30.0, trials=3)
    reaped = study.trials[orphan.number]
    # Its silence must exceed the grace period: the looks at 0, 30 and 60 simulated seconds
    # leave it, the one at 90 reaps it.
    assert reaped.user_attrs[A.FAIL_REASON] == "no heartbeat for 90s (grace period 60s)"
    assert reaped.state == TrialState.FAIL
    assert reaped.user_attrs[A.RETRY_REQUESTED] == A.RETRY_HEARTBEAT
    (retry,) = [t for t in study.trials if t.user_attrs.get(A.RETRY_OF) == orphan.number]
    assert retry.state == TrialState.COMPLETE and retry.params == reaped.params
    assert counts(study) == {TrialState.COMPLETE: 3, TrialState.FAIL: 1}
    check_study_invariants(study, 3)


def test_lineage_of_repeated_retries_ends_at_max_retries(tmp_path: Path) -> None:
    # Trial 0 and its retries 1 and 2 lose their workers; max_retries 2 ends the lineage
    # there (FAIL, one slot of the budget); trial 3 is the budget's second slot.
    pool = SimulatedPool(1, Trainer(lose_worker={0: 5, 1: 5, 2: 5}))
    study = run(tmp_path, write_space(tmp_path, trials=2), pool)
    chains: dict[int, list[int]] = {}
    for trial in study.trials:
        root, prev = trial.number, trial.user_attrs.get(A.RETRY_OF)
        while prev is not None:
            root, prev = prev, study.trials[prev].user_attrs.get(A.RETRY_OF)
        chains.setdefault(root, []).append(trial.number)
    assert chains == {0: [0, 1, 2], 3: [3]}
    assert [study.trials[n].user_attrs.get(A.RETRY_ATTEMPT, 0) for n in chains[0]] == [0, 1, 2]
    assert [study.trials[n].state for n in chains[0]] == [TrialState.FAIL] * 3
    assert all(study.trials[n].params == study.trials[0].params for n in chains[0])
    assert study.trials[3].state == TrialState.COMPLETE
    check_study_invariants(study, 2)


class PastOnly(Trainer):
    """After each evaluation is reported and the pruner has decided (the moment the pool
    resumes the trainer), no value in the database may lie in the simulated future."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__()
        self.clock = clock
        self.started: dict[int, float] = {}
        self.checks = 0
        self._storage: optuna.storages.RDBStorage | None = None

    def __call__(self, task: TrialTask, params: Mapping[str, Any]) -> Iterator[SimStep]:
        self.started[task.number] = self.clock.now()
        if self._storage is None:
            self._storage = optuna.storages.RDBStorage(task.storage_url)
        study = optuna.load_study(study_name=task.study_name, storage=self._storage)
        for item in super().__call__(task, params):
            yield item
            for other in study.get_trials(deepcopy=False):
                for step in other.intermediate_values:
                    assert self.started[other.number] + 10.0 * step <= self.clock.now()
                self.checks += 1


def test_pruning_on_the_simulated_pool_sees_only_the_past(tmp_path: Path) -> None:
    clock = SimClock()
    trainer = PastOnly(clock)
    pool = SimulatedPool(3, trainer, clock=clock)
    study = run(tmp_path, write_space(tmp_path, trials=12, pruner="median"), pool)
    states = counts(study)
    assert states.get(TrialState.PRUNED, 0) > 0
    assert sum(states.values()) == 12
    assert trainer.checks > 0
    for record in pool.records:
        assert record.state != "PRUNED" or record.steps < 20  # never pruned at its last step


def test_a_compute_budget_stops_asking_and_lets_running_trials_finish(tmp_path: Path) -> None:
    pool = SimulatedPool(2, Trainer(), compute_budget=50)
    study = run(tmp_path, write_space(tmp_path, trials=20), pool)
    # 2 at a time, 20 steps each: after 4 trials 80 >= 50 steps are spent.
    assert counts(study) == {TrialState.COMPLETE: 4}
    assert pool.exhausted()


def test_the_in_process_pool_runs_the_simulated_task(tmp_path: Path) -> None:
    study = run(tmp_path, write_space(tmp_path, trials=3), InProcessPool(2))
    assert counts(study) == {TrialState.COMPLETE: 3}
    assert all(t.user_attrs[A.RAY_NODE_ID].startswith("inprocess:") for t in study.trials)
    check_study_invariants(study, 3)


def test_the_in_process_pool_by_name(tmp_path: Path) -> None:
    study = run(tmp_path, write_space(tmp_path, trials=2), "inprocess")
    assert counts(study) == {TrialState.COMPLETE: 2}


def test_an_unknown_pool_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown pool 'threads': use one of ray, inprocess"):
        run(tmp_path, write_space(tmp_path, trials=1), "threads")
