"""Each kind of bad space is rejected with its YAML path, the bad value and what is allowed."""

from __future__ import annotations

import pytest

from hpsearch.spaces import SpaceError, load_space, load_space_file, load_space_text

BASE = """
name: t
params:
  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
"""


def issues_of(text: str) -> list[str]:
    with pytest.raises(SpaceError) as info:
        load_space_text(text)
    return [str(i) for i in info.value.issues]


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("params: {lr: {type: floaty, low: 1, high: 2}}", "params.lr.type", "float, int"),
        ("params: {x: {type: float, low: 2, high: 1}}", "params.x", "low < high"),
        ("params: {x: {type: float, low: 0, high: 1, log: true}}", "params.x.low", "low > 0"),
        (
            "params: {x: {type: float, low: 1, high: 9, log: true, step: 1}}",
            "params.x.step",
            "either log",
        ),
        ("params: {x: {type: int, low: 1.5, high: 9}}", "params.x.low", "an integer"),
        ("params: {x: {type: categorical, choices: []}}", "params.x.choices", "non-empty"),
        ("params: {x: {type: categorical, choices: [[a, b]]}}", "params.x.choices[0]", "scalars"),
        ("params: {x: {type: categorical, choices: [1, 1]}}", "params.x.choices", "unique"),
        ("params: {x: {type: float, lo: 1, high: 2}}", "params.x.lo", "did you mean"),
        (
            "params: {lora_dropout: {type: float, low: 0, high: 1.5}}",
            "params.lora_dropout",
            "0 <= x < 1",
        ),
        ("params: {learning_rate: {type: fixed, value: -1}}", "params.learning_rate", "> 0"),
        (
            "params: {a: {type: float, low: 0, high: 1, when: {b: x}}}",
            "params.a.when.b",
            "unknown parent",
        ),
        (
            "params: {o: {type: categorical, choices: [sgd, adam]}, "
            "m: {type: float, low: 0, high: 1, when: {o: rmsprop}}}",
            "params.m.when.o",
            "'sgd', 'adam'",
        ),
        (
            "params: {a: {type: categorical, choices: [1, 2], when: {b: 1}}, "
            "b: {type: categorical, choices: [1, 2], when: {a: 1}}}",
            "params.",
            "cycle",
        ),
        ("sampler: {type: tpee}\nparams: {x: 1}", "sampler.type", "did you mean 'tpe'"),
        ("pruner: {type: hyperbnd}\nparams: {x: 1}", "pruner.type", "hyperband"),
        (
            "resources: {gpus_per_trial: 2.5}\nparams: {x: 1}",
            "resources.gpus_per_trial",
            "an integer from 2 to 16",
        ),
        (
            "retries: {heartbeat_interval: 10, grace_period: 5}\nparams: {x: 1}",
            "retries.grace_period",
            ">= 2 x heartbeat_interval",
        ),
        ("method: full\nparams: {lora_r: 8}", "params.lora_r", "method: lora or qlora"),
        ("params: {x: 1}\nwarm_start: [{y: 2}]", "warm_start[0].y", "not a parameter"),
        (
            "params: {x: {type: float, low: 0, high: 1}}\nwarm_start: [{x: 3}]",
            "warm_start[0].x",
            "0.0 .. 1.0",
        ),
        ("sampler: grid\nparams: {x: {type: float, low: 0, high: 1}}", "params.x", "finite set"),
        ("objective: {metric: loss}\nparams: {x: 1}", "objective.metric", "eval_"),
        ("batch: {lr_scaling: sqrt}\nparams: {x: 1}", "batch.lr_scaling", "learning_rate"),
        ("params: {x: 1}\nparms: {}", "parms", "did you mean 'params'"),
        (
            "params: {effective_batch_size: 16, per_device_train_batch_size: "
            "{type: categorical, choices: [4, 6, 32]}}",
            "params.per_device_train_batch_size",
            "1, 2, 4, 8, 16",
        ),
        (
            "params: {effective_batch_size: 16, gradient_accumulation_steps: 2, "
            "per_device_train_batch_size: 8}",
            "params.gradient_accumulation_steps",
            "derived",
        ),
        ("task: {type: causal_lm, model: m}\nparams: {x: 1}", "task.dataset", "needs a dataset"),
    ],
)
def test_bad_space_names_path_and_allowed_values(text: str, path: str, fragment: str) -> None:
    found = issues_of(text)
    assert any(i.startswith(path) and fragment in i for i in found), found


def test_all_problems_are_reported_at_once() -> None:
    found = issues_of("""
name: bad
methd: lora
sampler: {type: tpee}
params:
  learning_rate: {type: float, low: 1e-5, high: 1e-3, log: maybe}
  effective_batch_size: {type: fixed, value: 16}
  per_device_train_batch_size: {type: categorical, choices: [4, 6]}
  lora_dropout: {type: float, low: 0, high: 1.5}
""")
    paths = {i.split(":")[0] for i in found}
    assert {
        "methd",
        "sampler.type",
        "params.learning_rate.log",
        "params.lora_dropout",
        "params.per_device_train_batch_size",
    } <= paths


def test_invalid_yaml_reports_the_line() -> None:
    found = issues_of("params:\n  x: {type: float\n  y: 2\n")
    assert len(found) == 1 and "invalid YAML at line" in found[0]


def test_yaml_never_constructs_python_objects() -> None:
    found = issues_of("params: !!python/object/apply:os.system ['echo hacked']\n")
    assert "invalid YAML" in found[0]


def test_unknown_builtin_and_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpaceError, match="lora_small"):
        load_space("lora_smal")
    with pytest.raises(SpaceError, match="file not found"):
        load_space_file(tmp_path / "nope.yaml")


def test_exponent_floats_without_a_dot_are_numbers() -> None:
    space = load_space_text("params: {learning_rate: {type: float, low: 1e-5, high: 5e-4}}")
    assert space.param("learning_rate").low == 1e-5  # type: ignore[union-attr]


TASK = "task: {type: simulated, max_steps: 10, eval_steps: 2}\n"


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("params: {weight_decay: {type: float, low: 0, high: .inf}}", "params.weight_decay.high"),
        ("params: {learning_rate: {type: fixed, value: .inf}}", "params.learning_rate.value"),
        (
            "params: {fsdp_config: {type: fixed, value: {x: [1, -.inf]}}}",
            "params.fsdp_config.value.x[1]",
        ),
        ("params: {x: {type: categorical, choices: [1, .nan]}}", "params.x.choices[1]"),
        (BASE + "resources: {cpus_per_trial: .nan}", "resources.cpus_per_trial"),
        (BASE + "resources: {gpus_per_trial: .nan}", "resources.gpus_per_trial"),
        (BASE + "resources: {memory_gb: .inf}", "resources.memory_gb"),
        (BASE + "pruner: {type: hyperband, reduction_factor: .nan}", "pruner.reduction_factor"),
        (BASE + "sampler: {type: tpe, prior_weight: .inf}", "sampler.prior_weight"),
        (BASE + "retries: {heartbeat_interval: .nan}", "retries.heartbeat_interval"),
        (BASE + "retries: {grace_period: .nan}", "retries.grace_period"),
        (BASE + "early_stopping: {threshold: .nan}", "early_stopping.threshold"),
        (BASE + "task: {num_train_epochs: .inf}", "task.num_train_epochs"),
        (BASE + "task: {eval_fraction: .nan}", "task.eval_fraction"),
        (BASE + "task: {simulated: {noise: .nan}}", "task.simulated.noise"),
        ("params: {x: {type: float, low: 0, high: 1}}\nwarm_start: [{x: .nan}]", "warm_start[0].x"),
    ],
)
def test_non_finite_numbers_are_rejected_once_at_their_path(text: str, path: str) -> None:
    found = issues_of(text)
    assert any(i.startswith(f"{path}: must be a finite number") for i in found), found
    assert len([i for i in found if i.startswith(path)]) == 1, found


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (BASE + "trials: 100000000000000000000000", "trials"),
        (BASE + "task: {seed: -1}", "task.seed"),
        (BASE + "task: {max_seq_length: 100000000000}", "task.max_seq_length"),
        (BASE + "resources: {cpus_per_trial: 0.00001}", "resources.cpus_per_trial"),
        (BASE + "resources: {gpus_per_trial: 0.00001}", "resources.gpus_per_trial"),
        (
            BASE + "retries: {heartbeat_interval: 1.0e-9, grace_period: 1}",
            "retries.heartbeat_interval",
        ),
        (BASE + "retries: {grace_period: 1.0e+300}", "retries.grace_period"),
        (
            "params: {lora_r: {type: int, low: 1, high: 100000000000000000000}}",
            "params.lora_r.high",
        ),
        ("params: {seed: {type: int, low: -5, high: 5}}", "params.seed"),
    ],
)
def test_numbers_out_of_range_are_rejected(text: str, path: str) -> None:
    found = issues_of(text)
    assert any(i.startswith(path) for i in found), found


def test_a_huge_stepped_range_is_not_listed() -> None:
    found = issues_of(
        "sampler: grid\nparams: {weight_decay: {type: float, low: 0, high: 1, step: 1.0e-12}}"
    )
    assert any("too many grid points" in i for i in found), found


def test_unknown_simulated_option_is_an_error_naming_the_allowed_ones() -> None:
    lines = issues_of(
        BASE + "task: {type: simulated, max_steps: 4, eval_steps: 2, "
        "simulated: {seconds_per_stp: 0.1, noise: high}}\n"
    )
    assert len(lines) == 2, lines
    unknown = "task.simulated.seconds_per_stp: unknown key (did you mean 'seconds_per_step'?)"
    assert lines[0].startswith(unknown) and "optimum_lr, noise" in lines[0], lines
    assert lines[1].startswith("task.simulated.noise: must be a number"), lines


def test_warm_start_value_its_condition_excludes_is_an_error() -> None:
    lines = issues_of(
        BASE
        + "  optim: {type: categorical, choices: [adamw_torch, sgd]}\n"
        + "  momentum: {type: float, low: 0.0, high: 0.9, when: {optim: sgd}}\n"
        + "warm_start:\n  - {optim: adamw_torch, momentum: 0.5}\n  - {optim: sgd, momentum: 0.5}\n"
    )
    assert len(lines) == 1, lines
    assert lines[0].startswith("warm_start[0].momentum: is not used"), lines
    assert "optim in ['sgd']" in lines[0], lines
