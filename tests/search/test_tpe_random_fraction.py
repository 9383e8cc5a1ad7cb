"""hpsearch's ``tpe`` sampler with ``random_fraction``: a share of the trials drawn uniformly at
random, the rest TPE's; with 0 it is exactly Optuna's TPE."""

from __future__ import annotations

import optuna
import pytest

from hpsearch.search.policy import TPESampler, build_sampler
from hpsearch.spaces import load_space_text


def _tpe(**options: float) -> TPESampler:
    return TPESampler(seed=7, n_startup_trials=5, **options)


def _minimise(sampler: optuna.samplers.BaseSampler, n: int) -> optuna.Study:
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", -10, 10) ** 2, n_trials=n)
    return study


@pytest.fixture(autouse=True)
def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_zero_is_optunas_tpe_draw_for_draw() -> None:
    ours = _minimise(_tpe(random_fraction=0.0), 30)
    optunas = _minimise(optuna.samplers.TPESampler(seed=7, n_startup_trials=5), 30)
    assert [t.params for t in ours.trials] == [t.params for t in optunas.trials]


def test_a_share_of_trials_ignores_the_model() -> None:
    sampler = _tpe(random_fraction=0.3)
    study = _minimise(sampler, 200)
    after = study.trials[5:]  # past TPE's random start-up trials
    random = [t for t in after if sampler.explores(t)]
    model = [t for t in after if not sampler.explores(t)]
    assert 0.2 < len(random) / len(after) < 0.4
    # TPE concentrates near the optimum x = 0; the random share spreads over [-10, 10].
    far = lambda trials: sum(abs(t.params["x"]) > 5 for t in trials) / len(trials)  # noqa: E731
    assert far(random) > 0.3
    assert far(model) < 0.15
    assert study.best_value < 0.05  # the hedge does not stop TPE from converging


def test_a_space_builds_it_and_rejects_a_bad_value() -> None:
    space = load_space_text(
        "sampler: {type: tpe, seed: 1, random_fraction: 0.25}\n"
        "params:\n  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n"
    )
    inner = build_sampler(space).inner
    assert isinstance(inner, optuna.samplers.TPESampler)
    assert inner.random_fraction == 0.25
    with pytest.raises(ValueError, match=r"random_fraction must be in \[0, 1\), got 1.0"):
        _tpe(random_fraction=1.0)
