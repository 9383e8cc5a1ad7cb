"""Every built-in space loads, round-trips through YAML, and says what the issue promises."""

from __future__ import annotations

import pytest

from hpsearch.spaces import (
    CategoricalParam,
    FloatParam,
    builtin_names,
    builtin_text,
    dump_space,
    load_space,
    load_space_text,
)


def test_every_builtin_is_listed() -> None:
    assert set(builtin_names()) == {"lora_small", "full_ft", "qlora", "seed_grid"}


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_loads_and_round_trips(name: str) -> None:
    space = load_space(name)
    assert space.name == name
    assert load_space_text(dump_space(space), default_name=name) == space
    # `spaces show` prints the file itself: it must be valid YAML that loads to the same space
    assert load_space_text(builtin_text(name), default_name=name) == space


def _float(space_name: str, param: str) -> FloatParam:
    p = load_space(space_name).param(param)
    assert isinstance(p, FloatParam), p
    return p


def test_lora_small_matches_the_guides() -> None:
    space = load_space("lora_small")
    lr = _float("lora_small", "learning_rate")
    assert (lr.low, lr.high, lr.log) == (1e-5, 5e-4, True)
    warmup = _float("lora_small", "warmup_ratio")
    assert (warmup.low, warmup.high) == (0.05, 0.2)
    wd = _float("lora_small", "weight_decay")
    assert (wd.low, wd.high) == (0.0, 0.1)
    batch = space.param("per_device_train_batch_size")
    assert isinstance(batch, CategoricalParam) and len(batch.choices) > 1
    schedule = space.param("lr_scheduler_type")
    assert isinstance(schedule, CategoricalParam)
    assert set(schedule.choices) == {"cosine", "linear"}
    for knob in ("lora_r", "lora_alpha", "lora_dropout"):
        assert space.param(knob) is not None and space.param(knob).kind != "fixed"
    assert space.method == "lora"


def test_full_ft_and_qlora_learning_rate_ranges() -> None:
    full = _float("full_ft", "learning_rate")
    assert (full.low, full.high, full.log) == (1e-5, 5e-5, True)
    assert load_space("full_ft").method == "full"
    qlora = _float("qlora", "learning_rate")
    assert (qlora.low, qlora.high) == (2e-4, 1e-3)
    assert load_space("qlora").method == "qlora"


def test_seed_grid_is_the_classic_27_point_grid() -> None:
    from hpsearch.search.policy import build_sampler, grid_search_space, grid_size

    space = load_space("seed_grid")
    grid = grid_search_space(space)
    assert grid == {
        "learning_rate": [1e-4, 2e-4, 5e-4],
        "per_device_train_batch_size": [4, 8, 16],
        "num_train_epochs": [2, 3, 5],
    }
    assert grid_size(space) == 27 == space.trials
    import optuna

    assert isinstance(build_sampler(space), optuna.samplers.GridSampler)


def test_lora_small_sampler_and_pruner_are_built_from_the_space() -> None:
    import optuna

    from hpsearch.search.policy import DistinctSampler, build_pruner, build_sampler

    space = load_space("lora_small")
    sampler = build_sampler(space, n_workers=4)
    assert isinstance(sampler, DistinctSampler)  # TPE seeded per trial, never repeating
    inner = sampler.inner
    assert isinstance(inner, optuna.samplers.TPESampler)
    assert inner._constant_liar is True and inner._multivariate is True
    single = build_sampler(space, n_workers=1)
    assert isinstance(single, DistinctSampler) and single.inner._constant_liar is False
    pruner = build_pruner(space, first_eval_step=10, max_step=40)
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert pruner._min_resource == 30  # the 3rd evaluation
    assert pruner._reduction_factor == 3
