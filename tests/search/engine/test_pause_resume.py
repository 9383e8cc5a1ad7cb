"""Pause and resume (``pruner: {type: promotion}``) in the real driver on the simulated pool.

A trial that ranks low at a rung is paused (PRUNED with ``paused_at_step``, a committed
checkpoint), and promoted later, when enough configurations have reached the rung that it ranks
in the top fraction: a successor with the same parameters continues from the checkpoint, its
curve continuing the paused one. Promotions take no budget slot, survive an interrupted driver,
happen once per paused trial even with two drivers, and paused trials that can no longer be
promoted lose their checkpoints. No Ray: each study runs through ``execute`` on SQLite.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.engine import RunRequest, SimStep, SimulatedPool, TrialTask, execute
from hpsearch.search.policy import PromotionPruner, build_pruner, validate_policy
from hpsearch.search.records import attributes as A
from hpsearch.search.records import build_ledger
from hpsearch.spaces import load_space_text
from hpsearch.trainers import complete_checkpoints
from tests.search.invariants import check_study_invariants

SPACE = """
name: sim
trials: {trials}
sampler: {{type: random, seed: {seed}}}
pruner: {{type: promotion, reduction_factor: 3}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
retries: {{max_retries: 2, heartbeat_interval: 10, grace_period: {grace}}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
  per_device_train_batch_size: 4
  effective_batch_size: 16
task:
  type: simulated
  max_steps: 45
  eval_steps: 5
"""
LAST = 45  # rungs at 5 and 15 (the first evaluation, times 3); 45 is the last step


def write_space(tmp_path: Path, *, trials: int, seed: int = 3, grace: float = 600.0) -> str:
    path = tmp_path / "sim.yaml"
    path.write_text(SPACE.format(trials=trials, seed=seed, grace=grace))
    return str(path)


class Trainer:
    """Early evaluations rank configurations wrongly: a high learning rate falls fast and
    flattens high, the best final value is at 1e-4 (a slow start). 10 simulated s a step."""

    def __init__(self, *, interrupt_at_trial: int | None = None) -> None:
        self.interrupt_at_trial = interrupt_at_trial
        self.calls: list[int] = []

    def __call__(self, task: TrialTask, params: Mapping[str, Any]) -> Iterator[SimStep]:
        self.calls.append(task.number)
        if task.number == self.interrupt_at_trial:
            self.interrupt_at_trial = None
            raise KeyboardInterrupt  # Ctrl-C while the driver starts this trial
        lr = float(params["learning_rate"])
        for step in range(5, LAST + 1, 5):
            value = abs(math.log10(lr) + 4) * 0.3 + 2.0 * math.exp(-lr * 100 * step)
            yield SimStep(step, value, seconds=10.0 * step, final=step == LAST)


def execute_on(
    tmp_path: Path, space: str, pool: SimulatedPool, trials: int | None = None
) -> optuna.Study:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    request = RunRequest(
        space=space,
        trials=trials,
        study="s",
        storage=url,
        checkpoint_dir=str(tmp_path / "ck"),
        pool=pool,
        reap_interval=100.0,
        status_interval=1000.0,
        handle_signals=threading.current_thread() is threading.main_thread(),
    )
    execute(request, emit=lambda line: None)
    return load(tmp_path)


def load(tmp_path: Path) -> optuna.Study:
    return optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'db.sqlite'}")


def check_promotions(study: optuna.Study) -> list[FrozenTrial]:
    """Every successor continues its paused predecessor's curve; each is promoted once."""
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    successors = [t for t in trials if t.user_attrs.get(A.PROMOTED_FROM) is not None]
    sources = Counter(t.user_attrs[A.PROMOTED_FROM] for t in successors)
    assert all(n == 1 for n in sources.values()), sources  # no paused trial promoted twice
    for successor in successors:
        paused = by_number[successor.user_attrs[A.PROMOTED_FROM]]
        assert paused.state == TrialState.PRUNED
        assert paused.user_attrs[A.PROMOTED_TO] == successor.number
        assert successor.params == paused.params
        resumed = successor.user_attrs[A.RESUMED_AT]
        assert resumed == paused.user_attrs[A.PAUSED_AT]
        assert successor.user_attrs[A.RESUMED_FROM].endswith(f"checkpoint-{resumed}")
        own = [s for s in successor.intermediate_values if s > resumed]
        if successor.state != TrialState.FAIL:  # (one interrupted at its start reported none)
            assert own and min(own) > resumed
        copied = {s: v for s, v in successor.intermediate_values.items() if s <= resumed}
        assert copied == paused.intermediate_values  # one curve: the paused one, continued
    return successors


def test_paused_trials_are_promoted_and_continue_their_curve(tmp_path: Path) -> None:
    pool = SimulatedPool(2, Trainer())
    study = execute_on(tmp_path, write_space(tmp_path, trials=9), pool)
    trials = study.get_trials(deepcopy=False)
    paused = [t for t in trials if t.user_attrs.get(A.PAUSED_AT) is not None]
    assert paused and all(t.state == TrialState.PRUNED for t in paused)
    assert all(
        t.user_attrs[A.PRUNE_REASON] == f"paused at step {t.user_attrs[A.PAUSED_AT]} by the "
        "promotion pruner"
        for t in paused
    )
    successors = check_promotions(study)
    assert successors
    # a trial paused at the first rung was promoted later, and a lineage reached the end
    assert any(by.user_attrs[A.RESUMED_AT] == 5 for by in successors)
    finals = [t for t in trials if t.state == TrialState.COMPLETE]
    assert finals and all(max(t.intermediate_values) == LAST for t in finals)
    assert any(t.user_attrs.get(A.PROMOTED_FROM) is not None for t in finals)
    # compute: each step of a lineage was trained once (the successors skipped what their
    # checkpoint holds), and the told value is the best of the lineage's whole curve
    heads = [t for t in trials if t.user_attrs.get(A.PROMOTED_TO) is None]
    assert pool.compute_used == sum(max(t.intermediate_values) for t in heads)
    assert sum(r.steps for r in pool.records) == pool.compute_used
    for final in finals:
        assert final.value == min(final.intermediate_values.values())
    # the trial budget is exact: promotions took no slot; nothing is left RUNNING
    ledger = build_ledger(trials, 2)
    assert ledger.slots_used == 9 and ledger.retried == len(successors)
    check_study_invariants(study, 9)


def test_an_interrupted_driver_resumes_and_promotes_once(tmp_path: Path) -> None:
    space = write_space(tmp_path, trials=12)
    with pytest.raises(KeyboardInterrupt):
        execute_on(tmp_path, space, SimulatedPool(2, Trainer(interrupt_at_trial=9)))
    before = load(tmp_path).get_trials(deepcopy=False)
    paused = [t for t in before if t.user_attrs.get(A.PAUSED_AT) is not None]
    waiting = [t for t in paused if t.user_attrs.get(A.PROMOTED_TO) is None]
    assert waiting, "the interrupted study has paused trials not yet promoted"
    # the disk rule at that moment: deleted checkpoints for the hopeless, kept for the rest
    deleted = [t for t in waiting if t.user_attrs.get(A.PAUSED_CHECKPOINT_DELETED)]
    kept = [t for t in waiting if not t.user_attrs.get(A.PAUSED_CHECKPOINT_DELETED)]
    assert deleted and kept
    for trial in deleted:
        assert complete_checkpoints(Path(trial.user_attrs[A.CHECKPOINT_DIR])) == []
    for trial in kept:
        steps = [c.step for c in complete_checkpoints(Path(trial.user_attrs[A.CHECKPOINT_DIR]))]
        assert steps == [trial.user_attrs[A.PAUSED_AT]]

    study = execute_on(tmp_path, space, SimulatedPool(2, Trainer()))
    trials = study.get_trials(deepcopy=False)
    late = [t for t in trials if t.number >= len(before)]
    promoted_late = {t.user_attrs.get(A.PROMOTED_FROM) for t in late} - {None}
    assert promoted_late & {t.number for t in kept}, "resume promoted trials paused before"
    assert not promoted_late & {t.number for t in deleted}
    check_promotions(study)
    check_study_invariants(study, 12)
    # a study that is done stays done: another execute promotes nothing twice
    again = execute_on(tmp_path, space, SimulatedPool(2, Trainer()))
    assert len(again.trials) == len(trials)
    # at the end, every paused trial was promoted or lost its checkpoint (the disk rule)
    for trial in again.trials:
        if trial.user_attrs.get(A.PAUSED_AT) is not None:
            promoted = trial.user_attrs.get(A.PROMOTED_TO) is not None
            assert promoted or trial.user_attrs.get(A.PAUSED_CHECKPOINT_DELETED)


def test_two_drivers_promote_each_paused_trial_once(tmp_path: Path) -> None:
    # A week's grace (simulated seconds): neither driver reaps the other's running trials.
    space = write_space(tmp_path, trials=1, grace=604800.0)
    execute_on(tmp_path, space, SimulatedPool(1, Trainer()))  # the study, made once
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            execute_on(tmp_path, space, SimulatedPool(2, Trainer()), trials=14)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drive) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    study = load(tmp_path)
    assert check_promotions(study)
    check_study_invariants(study, 14)


PARAMS = "params:\n  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n"


@pytest.mark.parametrize(
    ("options", "path", "fragment"),
    [
        (
            "reduction_factor: 1",
            "pruner.reduction_factor",
            "got 1; allowed: an integer factor >= 2",
        ),
        ("reduction_factor: 2.5", "pruner.reduction_factor", "got 2.5; allowed: an integer"),
        ("min_evaluations: 0", "pruner.min_evaluations", "got 0"),
        ("eta: 3", "pruner.eta", "allowed: min_resource, reduction_factor, max_resource"),
        ("max_resource: lots", "pruner.max_resource", '"auto"'),
        ("min_resource: 10, max_resource: 5", "pruner.max_resource", "min_resource"),
        ("min_evaluations: 2, min_resource: 4", "pruner.min_evaluations", "not both"),
    ],
)
def test_the_pruner_options_are_checked(options: str, path: str, fragment: str) -> None:
    space = load_space_text(PARAMS + f"pruner: {{type: promotion, {options}}}\n")
    found = [str(i) for i in validate_policy(space)]
    assert any(i.startswith(path) and fragment in i for i in found), found


def test_a_space_with_the_promotion_pruner_loads_and_builds() -> None:
    space = load_space_text(
        PARAMS + "pruner: {type: promotion, min_evaluations: 2, reduction_factor: 2}\n"
    )
    assert validate_policy(space) == []
    pruner = build_pruner(space, first_eval_step=5, max_step=100)
    assert isinstance(pruner, PromotionPruner) and pruner.pauses_trials
    assert pruner.rung_steps(1000) == [10, 20, 40, 80]  # below max_resource = the last step
    with pytest.raises(ValueError, match="reduction_factor must be an integer >= 2, got 1"):
        PromotionPruner(reduction_factor=1)


@pytest.mark.parametrize("kind", ["successive_halving", "hyperband"])
def test_optunas_own_pruners_are_unchanged(kind: str) -> None:
    space = load_space_text(PARAMS + f"pruner: {{type: {kind}, min_evaluations: 2}}\n")
    pruner = build_pruner(space, first_eval_step=5, max_step=100)
    assert type(pruner).__module__.startswith("optuna.pruners")
    assert not getattr(pruner, "pauses_trials", False)
