"""A rung pruner is asked only when a report passes one of its rung steps, and every decision
is the one it would have made if asked at every report (Optuna's successive halving reads the
trial from the database at each question: that was a third of a simulated study's CPU)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import optuna
import pytest
from optuna.pruners import BasePruner, HyperbandPruner, SuccessiveHalvingPruner
from optuna.trial import TrialState

from hpsearch.search.engine import OptunaReporter
from hpsearch.search.policy import PromotionPruner, RungSchedule, rung_schedule
from hpsearch.spaces import load_space_text
from hpsearch.storage import trial_id_of

PRUNERS = {
    "successive_halving": lambda: SuccessiveHalvingPruner(min_resource=2, reduction_factor=3),
    "hyperband": lambda: HyperbandPruner(min_resource=2, max_resource=40, reduction_factor=3),
    "promotion": lambda: PromotionPruner(min_resource=2, reduction_factor=3, max_resource=40),
}


def _counting(pruner: BasePruner, calls: list[int]) -> BasePruner:
    inner_prune = pruner.prune

    def prune(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        calls.append(trial.last_step or 0)
        return inner_prune(study, trial)

    pruner.prune = prune  # type: ignore[method-assign]
    return pruner


def _study(tmp_path: Path, name: str, kind: str, rungs: RungSchedule | None) -> tuple[list, int]:
    """30 trials with seeded learning curves, evaluated every 3rd step up to 39; each trial's
    end (pruned at step N, or complete) and how often the pruner was asked. The study name is
    the same for both runs: Hyperband assigns brackets by a hash of it."""
    calls: list[int] = []
    study = optuna.create_study(
        study_name="rungs",
        storage=f"sqlite:///{tmp_path / name}.db",
        direction="maximize",
        pruner=_counting(PRUNERS[kind](), calls),
    )
    rng, ends = random.Random(3), []
    for _ in range(30):
        trial = study.ask()
        reporter = OptunaReporter(study, trial_id_of(trial), rungs)
        rate, ceiling = rng.uniform(0.05, 1.0), rng.uniform(0.5, 1.0)
        end: int | None = None
        for step in range(3, 40, 3):
            reporter.report(step, ceiling * (1 - math.exp(-rate * step)) + rng.gauss(0, 0.02))
            if reporter.should_prune():
                end = step
                break
        if end is None:
            study.tell(trial, reporter.reported[-1][1])
        else:
            study.tell(trial, state=TrialState.PRUNED)
        ends.append(end)
    return ends, len(calls)


@pytest.mark.parametrize("kind", sorted(PRUNERS))
def test_the_gate_changes_no_decision_and_skips_most_questions(tmp_path: Path, kind: str) -> None:
    asked_always, calls_always = _study(tmp_path, "always", kind, None)
    gated, calls_gated = _study(tmp_path, "gated", kind, RungSchedule(2, 3))
    assert gated == asked_always
    assert any(e is not None for e in gated) and any(e is None for e in gated)  # both happen
    # Rungs 2, 6, 18 (and 54, past the curves): first reached at steps 3, 6 and 18 of 13
    # evaluations: at most 3 questions per trial, where every report was a question before.
    assert calls_gated <= 3 * 30
    assert calls_gated < calls_always


def test_crossing_a_rung_between_evaluations() -> None:
    rungs = RungSchedule(min_resource=2, reduction_factor=3)  # 2, 6, 18, 54, ...
    assert [s for s in range(1, 60) if rungs.crosses(s - 1, s)] == [2, 6, 18, 54]
    assert rungs.crosses(0, 3) and not rungs.crosses(3, 5) and rungs.crosses(5, 20)


PARAMS = "params:\n  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n"


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        ("{type: successive_halving, min_evaluations: 3}", RungSchedule(30, 4)),  # Optuna's 4
        ("{type: hyperband, min_resource: 20, reduction_factor: 2}", RungSchedule(20, 2)),
        ("{type: promotion}", RungSchedule(10, 3)),  # auto: the first evaluation
        ("{type: median}", None),
        ("{type: none}", None),
    ],
)
def test_the_schedule_is_the_spaces_pruners(pruner: str, expected: RungSchedule | None) -> None:
    space = load_space_text(f"pruner: {pruner}\n" + PARAMS)
    assert rung_schedule(space, first_eval_step=10) == expected
