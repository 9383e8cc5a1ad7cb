"""No configuration runs twice: several drivers, a resumed driver, a small finite space.

Each "driver" here is what a driver process holds: its own study object, storage connection
and sampler built by ``build_sampler``, on one PostgreSQL study. (The CLI-level versions, with
real driver processes, are in tests/faults/test_distinct_drivers.py.)
"""

from __future__ import annotations

import threading
from typing import Any

import optuna
import pytest

from hpsearch.search.policy import SpaceExhaustedError, build_sampler, sample_params
from hpsearch.spaces import SearchSpace, load_space_text
from hpsearch.storage import named_lock, parse_storage_url

SPACE = """
name: distinct
sampler: {{type: {sampler}, seed: 1{options}}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
  per_device_train_batch_size: {{type: categorical, choices: [4, 8, 16]}}
  weight_decay: {{type: float, low: 0.0, high: 0.1, step: 0.01}}
  optim: {{type: categorical, choices: [adamw_torch, sgd]}}
  momentum: {{type: float, low: 0.5, high: 0.99, when: {{optim: sgd}}}}
  effective_batch_size: 16
"""

# 2 x 2 x (1 + 2) = 12 configurations
FINITE = """
name: finite
sampler: {{type: {sampler}, seed: 1{options}}}
params:
  learning_rate: {{type: categorical, choices: [1.0e-4, 3.0e-4]}}
  per_device_train_batch_size: {{type: categorical, choices: [8, 16]}}
  optim: {{type: categorical, choices: [adamw_torch, sgd]}}
  momentum: {{type: categorical, choices: [0.8, 0.9], when: {{optim: sgd}}}}
  effective_batch_size: 16
"""

SAMPLERS = [
    ("tpe", ", n_startup_trials: 4"),
    ("random", ""),
    ("gp", ", n_startup_trials: 4"),
    ("cmaes", ", n_startup_trials: 4"),
]


def _space(template: str, sampler: str, options: str) -> SearchSpace:
    if sampler == "cmaes":
        pytest.importorskip("cmaes")  # Optuna's CmaEsSampler needs it; not an hpsearch dependency
    return load_space_text(template.format(sampler=sampler, options=options))


def _driver(url: str, name: str, space: SearchSpace, workers: int = 1) -> optuna.Study:
    storage = url.replace("postgresql://", "postgresql+psycopg2://")
    sampler = build_sampler(space, n_workers=workers)
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler)


def _new_study(url: str, name: str) -> None:
    optuna.create_study(
        study_name=name, storage=url.replace("postgresql://", "postgresql+psycopg2://")
    )


def _run_one(study: optuna.Study, space: SearchSpace) -> dict[str, Any]:
    trial = study.ask()
    params = sample_params(trial, space)
    value = params["learning_rate"] if isinstance(params["learning_rate"], float) else 0.0
    study.tell(trial, value + 0.01 * params["per_device_train_batch_size"])
    return {k: v for k, v in params.items() if k != "effective_batch_size"}


def _configs(study: optuna.Study) -> list[tuple[tuple[str, Any], ...]]:
    return [tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False)]


@pytest.mark.parametrize(("sampler", "options"), SAMPLERS)
def test_two_drivers_and_a_resumed_one_never_repeat_a_configuration(
    fresh_pg_url: str, sampler: str, options: str
) -> None:
    space = _space(SPACE, sampler, options)
    _new_study(fresh_pg_url, "two")
    first, second = _driver(fresh_pg_url, "two", space), _driver(fresh_pg_url, "two", space)
    for _ in range(5):
        _run_one(first, space)
        _run_one(second, space)
    resumed = _driver(fresh_pg_url, "two", space)  # a driver process started again later
    for _ in range(4):
        _run_one(resumed, space)
    configs = _configs(resumed)
    assert len(configs) == 14
    assert len(set(configs)) == 14, configs


def test_concurrent_drivers_claim_distinct_points_of_a_finite_space(fresh_pg_url: str) -> None:
    """Four drivers ask at the same time until the 12 configurations are used up: each runs
    exactly once, and the drivers that find nothing left are told so instead of repeating one."""
    space = _space(FINITE, "tpe", ", n_startup_trials: 3")
    _new_study(fresh_pg_url, "race")
    exhausted: list[str] = []
    errors: list[BaseException] = []

    location = parse_storage_url(fresh_pg_url)

    def drive() -> None:
        study = _driver(fresh_pg_url, "race", space, workers=4)
        # what each driver process sets up (hpsearch.search.engine.Driver)
        study.sampler.use_claim_lock(  # type: ignore[attr-defined]
            lambda: named_lock(location, "hpsearch:configurations:race")
        )
        try:
            for _ in range(8):  # more than its share: 4 x 8 asks for 12 configurations
                _run_one(study, space)
        except SpaceExhaustedError as exc:
            exhausted.append(str(exc))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=drive) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    study = _driver(fresh_pg_url, "race", space)
    configs = [c for c in _configs(study) if c]
    assert len(configs) == 12 and len(set(configs)) == 12, configs
    assert len(exhausted) == 4
    assert "12 distinct configuration(s)" in exhausted[0]
    assert study.sampler.is_exhausted(study)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("sampler", "options"), SAMPLERS)
def test_one_driver_on_a_small_finite_space_runs_each_configuration_once(
    fresh_pg_url: str, sampler: str, options: str
) -> None:
    space = _space(FINITE, sampler, options)
    _new_study(fresh_pg_url, "finite")
    study = _driver(fresh_pg_url, "finite", space)
    for _ in range(12):
        _run_one(study, space)
    assert len(set(_configs(study))) == 12, _configs(study)
    assert study.sampler.n_configurations == 12  # type: ignore[attr-defined]
    assert study.sampler.is_exhausted(study)  # type: ignore[attr-defined]
    with pytest.raises(SpaceExhaustedError, match="every one is already in the study"):
        _run_one(study, space)


@pytest.mark.parametrize(
    ("sampler", "options"),
    [("tpe", ""), ("random", ""), ("tpe", ", n_startup_trials: 4, random_fraction: 0.5")],
)
def test_the_same_seed_gives_the_same_sequence_on_a_fresh_study(
    fresh_pg_url: str, sampler: str, options: str
) -> None:
    space = _space(SPACE, sampler, options)
    sequences = []
    for name in ("a", "b"):
        _new_study(fresh_pg_url, name)
        study = _driver(fresh_pg_url, name, space)
        sequences.append([_run_one(study, space) for _ in range(14)])
    assert sequences[0] == sequences[1]
    assert len({tuple(sorted(p.items())) for p in sequences[0]}) == 14


def test_given_parameters_are_left_alone(fresh_pg_url: str) -> None:
    """Retries and warm starts run the parameters they were enqueued with, repeats included."""
    space = _space(SPACE, "tpe", "")
    _new_study(fresh_pg_url, "given")
    study = _driver(fresh_pg_url, "given", space)
    first = _run_one(study, space)
    study.enqueue_trial(first, user_attrs={"retry_of": 0})
    study.enqueue_trial({"learning_rate": 1e-3})  # a partial warm start
    assert _run_one(study, space) == first
    partial = _run_one(study, space)
    assert partial["learning_rate"] == 1e-3


def test_partial_warm_starts_complete_to_new_configurations(fresh_pg_url: str) -> None:
    """The parameters a partial enqueued trial leaves open are drawn like any others: never a
    configuration already in the study, as long as one is left; then it runs anyway."""
    space = _space(FINITE, "tpe", "")
    _new_study(fresh_pg_url, "partial")
    study = _driver(fresh_pg_url, "partial", space)
    for _ in range(3):
        _run_one(study, space)
    free = 6 - sum(t.params["learning_rate"] == 1e-4 for t in study.trials)  # 6 have 1e-4
    for _ in range(free + 1):
        study.enqueue_trial({"learning_rate": 1e-4})
    runs = [_run_one(study, space) for _ in range(free + 1)]
    assert all(run["learning_rate"] == 1e-4 for run in runs)
    configs = _configs(study)
    assert len(set(configs[: 3 + free])) == 3 + free, configs
    assert configs[-1] in configs[:-1]  # no completion was left: it ran as enqueued
