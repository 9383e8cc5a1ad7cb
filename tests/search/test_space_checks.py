"""Checks the search layer adds to a space before anything is written: sampler and pruner
option values (type and range, not only names), and the default study name."""

from __future__ import annotations

import pytest

from hpsearch.search.engine import default_study_name
from hpsearch.search.policy import validate_policy
from hpsearch.spaces import TaskSpec, load_space_text

PARAMS = "params:\n  learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}\n"


def policy_issues(section: str) -> list[str]:
    return [str(i) for i in validate_policy(load_space_text(PARAMS + section + "\n"))]


@pytest.mark.parametrize(
    ("section", "path", "fragment"),
    [
        ("sampler: {type: tpe, n_startup_trials: -5}", "sampler.n_startup_trials", "from 0"),
        ("sampler: {type: tpe, n_startup_trials: 5.5}", "sampler.n_startup_trials", "integer"),
        ("sampler: {type: tpe, seed: -1}", "sampler.seed", "from 0"),
        ("sampler: {type: tpe, multivariate: 1}", "sampler.multivariate", "true or false"),
        ("sampler: {type: tpe, prior_weight: 0}", "sampler.prior_weight", "> 0"),
        ("sampler: {type: tpe, n_ei_candidates: 0}", "sampler.n_ei_candidates", "from 1"),
        ("sampler: {type: random, seed: '7'}", "sampler.seed", "an integer"),
        ("sampler: {type: tpe, random_fraction: 1}", "sampler.random_fraction", "below 1"),
        ("sampler: {type: tpe, random_fraction: -0.1}", "sampler.random_fraction", "from 0"),
        ("sampler: {type: tpe, random_fraction: lots}", "sampler.random_fraction", "a number"),
        ("sampler: {type: random, random_fraction: 0.3}", "sampler.random_fraction", "not an"),
        ("pruner: {type: hyperband, reduction_factor: 1}", "pruner.reduction_factor", ">= 2"),
        ("pruner: {type: hyperband, reduction_factor: 2.5}", "pruner.reduction_factor", "integer"),
        ("pruner: {type: hyperband, max_resource: lots}", "pruner.max_resource", '"auto"'),
        (
            "pruner: {type: hyperband, min_resource: 10, max_resource: 5}",
            "pruner.max_resource",
            "min_resource",
        ),
        ("pruner: {type: successive_halving, min_evaluations: 0}", "pruner.min_evaluations", "1"),
        ("pruner: {type: median, n_warmup_steps: -1}", "pruner.n_warmup_steps", "from 0"),
        ("pruner: {type: median, interval_steps: 0}", "pruner.interval_steps", "from 1"),
        ("sampler: {type: cmaes, restart_strategy: ipop}", "sampler.restart_strategy", "no effect"),
    ],
)
def test_option_values_are_checked(section: str, path: str, fragment: str) -> None:
    found = policy_issues(section)
    assert any(i.startswith(path) and fragment in i for i in found), found


def test_good_options_pass() -> None:
    assert (
        policy_issues("sampler: {type: tpe, seed: 1, n_startup_trials: 0, prior_weight: 2}") == []
    )
    assert policy_issues("sampler: {type: tpe, random_fraction: 0.33}") == []
    assert policy_issues("pruner: {type: hyperband, min_resource: auto, max_resource: 30}") == []


def test_default_study_name_keeps_the_space_name_whole() -> None:
    space = load_space_text("name: " + "s" * 100 + "\n" + PARAMS)
    task = TaskSpec(type="causal_lm", model="/models/" + "m" * 150 + "/")
    assert default_study_name(space, task) == "s" * 100 + "-" + "m" * 150
    simulated = TaskSpec(type="simulated", max_steps=4)
    assert default_study_name(space, simulated) == "s" * 100 + "-simulated"
    odd = TaskSpec(type="causal_lm", model="/models/my model")
    assert default_study_name(space, odd).endswith("-my-model")


def test_a_study_stored_under_a_name_now_refused_still_loads() -> None:
    """Earlier versions took a space's name from its file name as it was ("my space (v2)");
    new spaces may not use such a name, but a stored study keeps it and resumes."""
    import optuna

    from hpsearch.search.records import load_meta
    from hpsearch.spaces import TaskSpec, load_space

    study = optuna.create_study()
    stored = {**load_space("lora_small").to_dict(), "name": "my space (v2)"}
    study.set_user_attr("hpsearch.space", stored)
    study.set_user_attr("hpsearch.task", TaskSpec(demo=True).to_dict())
    study.set_user_attr("hpsearch.budget", 3)
    meta = load_meta(study)
    assert meta.space.name == "my space (v2)"
    assert meta.space.to_dict() == stored


def _run_issues(params: str, task_type: str) -> list[str]:
    from hpsearch.search.engine import build_task, validate_run

    task = f"task: {{type: {task_type}, model: /models/m, dataset: /data/d.jsonl}}\n"
    space = load_space_text(PARAMS + params + task)
    return [str(i) for i in validate_run(space, build_task(space, {}))]


def test_causal_lm_spaces_take_sft_config_fields() -> None:
    """Causal-LM trials train with TRL's SFTTrainer: SFTConfig's own fields are parameters."""
    sft = "  padding_free: true\n  packing_strategy: {type: categorical, choices: [bfd, wrapped]}\n"
    sft += "  loss_type: {type: categorical, choices: [nll, dft]}\n"
    assert _run_issues(sft, "causal_lm") == []
    (issue,) = _run_issues("  padding_free: true\n", "classification")
    assert "neither an hpsearch knob nor a TrainingArguments field" in issue
    # the SFTConfig fields that follow the task's data settings are set there
    (issue,) = _run_issues("  packing: true\n", "causal_lm")
    assert "params.packing" in issue and "set task.packing" in issue
    (issue,) = _run_issues("  max_length: 64\n", "causal_lm")
    assert "set task.max_seq_length" in issue
    (issue,) = _run_issues("  padding_fre: true\n", "causal_lm")
    assert "nor a trl SFTConfig field" in issue and "padding_free" in issue
