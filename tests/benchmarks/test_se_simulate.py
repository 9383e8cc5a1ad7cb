"""The event-driven simulation: budget in epochs, and no look into the simulated future."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from se_simulate import simulate

from hpsearch.spaces import load_space_dict

MAX_EPOCH = 6


class FakeCurve:
    """val_accuracy grows with ``x``; an epoch lasts ``1 + 10 * y`` seconds."""

    def __init__(self, config: dict[str, Any]) -> None:
        epochs = np.arange(1, MAX_EPOCH + 1, dtype=float)
        self.val_accuracy = config["x"] * epochs
        self.cum_time = (1.0 + 10.0 * config["y"]) * epochs
        self.n_epochs = MAX_EPOCH


def _space(pruner: dict[str, Any]) -> Any:
    return load_space_dict(
        {
            "name": "fake",
            "objective": {"metric": "eval_accuracy", "direction": "maximize"},
            "sampler": {"type": "random", "seed": 0},
            "pruner": pruner,
            "params": {
                "x": {"type": "float", "low": 0.0, "high": 1.0},
                "y": {"type": "float", "low": 0.0, "high": 1.0},
            },
        }
    )


class SpyPruner(optuna.pruners.BasePruner):
    """Wraps a pruner; checks that every value it can see was reported at or before now."""

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner
        self.calls = 0

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        def end_time(t: optuna.trial.FrozenTrial, step: int) -> float:
            return float(t.user_attrs["sim_start"] + (1.0 + 10.0 * t.params["y"]) * step)

        now = end_time(trial, max(trial.intermediate_values))
        for other in study.get_trials(deepcopy=False):
            for step in other.intermediate_values:
                assert end_time(other, step) <= now + 1e-9
        self.calls += 1
        return self.inner.prune(study, trial)


@pytest.mark.parametrize("n_workers", [1, 4])
def test_pruning_sees_only_the_past(n_workers: int) -> None:
    spy = SpyPruner(optuna.pruners.MedianPruner(n_startup_trials=2))
    log = simulate(
        _space({"type": "none"}),
        FakeCurve,
        max_epoch=MAX_EPOCH,
        budget_epochs=40 * MAX_EPOCH,
        n_workers=n_workers,
        pruner=spy,
    )
    assert spy.calls > 0
    assert log.n_pruned > 0
    assert log.epochs_used == 40 * MAX_EPOCH
    times = [c.time for c in log.completions]
    assert times == sorted(times)


def test_sequential_budget_and_completions() -> None:
    log = simulate(
        _space({"type": "none"}), FakeCurve, max_epoch=MAX_EPOCH, budget_epochs=10 * MAX_EPOCH
    )
    assert log.n_trials == 10
    assert log.n_pruned == 0
    assert [c.epochs for c in log.completions] == [MAX_EPOCH * (i + 1) for i in range(10)]
    best = max(c.value for c in log.completions)
    assert log.best_at_epochs(10 * MAX_EPOCH) == best
    assert log.best_at_epochs(MAX_EPOCH - 1) is None
    assert log.epochs_to_reach(best) == next(c.epochs for c in log.completions if c.value == best)


def test_parallel_workers_overlap_in_time() -> None:
    one = simulate(
        _space({"type": "none"}), FakeCurve, max_epoch=MAX_EPOCH, budget_epochs=16 * MAX_EPOCH
    )
    four = simulate(
        _space({"type": "none"}),
        FakeCurve,
        max_epoch=MAX_EPOCH,
        budget_epochs=16 * MAX_EPOCH,
        n_workers=4,
    )
    assert four.end_time < one.end_time / 2
