"""The batch rules and LR scaling applied to a sampled point."""

from __future__ import annotations

import math

import pytest

from hpsearch.spaces import BatchRuleError, load_space_text, resolve_trial, sampling_order

SPACE = """
params:
  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
  effective_batch_size: {type: categorical, choices: [16, 32]}
  per_device_train_batch_size: {type: categorical, choices: [2, 4, 8, 16]}
  lora_r: {type: categorical, choices: [8, 16]}
  lora_target_modules: "q_proj,v_proj"
  optim: {type: categorical, choices: [adamw_torch, sgd]}
  momentum: {type: float, low: 0.5, high: 0.99, when: {optim: sgd}}
batch: {lr_scaling: BATCH, reference_batch_size: 16}
"""


def space(scaling: str = "none"):  # type: ignore[no-untyped-def]
    return load_space_text(SPACE.replace("BATCH", scaling))


def test_accumulation_is_derived_from_the_effective_batch() -> None:
    r = resolve_trial(
        space(),
        {"learning_rate": 1e-4, "effective_batch_size": 32, "per_device_train_batch_size": 4},
    )
    assert (r.per_device_train_batch_size, r.gradient_accumulation_steps) == (4, 8)
    assert r.effective_batch_size == 32
    assert r.lora == {
        "r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "target_modules": ["q_proj", "v_proj"],
    }


@pytest.mark.parametrize(
    ("scaling", "factor"), [("none", 1.0), ("linear", 2.0), ("sqrt", math.sqrt(2.0))]
)
def test_learning_rate_scaling(scaling: str, factor: float) -> None:
    r = resolve_trial(
        space(scaling),
        {"learning_rate": 1e-4, "effective_batch_size": 32, "per_device_train_batch_size": 8},
    )
    assert r.learning_rate == pytest.approx(1e-4 * factor)
    assert r.base_learning_rate == 1e-4


def test_oom_retry_halves_batch_and_doubles_accumulation() -> None:
    r = resolve_trial(
        space(),
        {"learning_rate": 1e-4, "effective_batch_size": 16, "per_device_train_batch_size": 8},
        oom_downscale=2,
    )
    assert (r.per_device_train_batch_size, r.gradient_accumulation_steps) == (4, 4)
    assert r.effective_batch_size == 16


def test_unreachable_combination_is_rejected() -> None:
    with pytest.raises(BatchRuleError, match="cannot reach"):
        resolve_trial(space(), {"effective_batch_size": 16, "per_device_train_batch_size": 32})


def test_conditional_parents_are_sampled_first() -> None:
    order = [p.name for p in sampling_order(space().params)]
    assert order.index("optim") < order.index("momentum")
    momentum = space().param("momentum")
    assert momentum is not None
    assert not momentum.active({"optim": "adamw_torch"})
    assert momentum.active({"optim": "sgd"})
