"""The policies the sample-efficiency benchmark runs: named ``sampler:``/``pruner:`` sections
of an hpsearch space (plus, for a few, other space fields), exactly as a space YAML holds them.

The issue-14 candidates (``CANDIDATES``) use features that may not be merged yet (the
``promotion`` pruner, the space's ``compute_budget``): they are data only, and a study whose
space hpsearch rejects is skipped with the validation message (see ``grid.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hpsearch.spaces import load_space


@dataclass(frozen=True)
class Policy:
    name: str
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    # Other top-level space fields (e.g. ``compute_budget``); with ``compute_budget`` the
    # study's budget is the space's, not the simulated pool's.
    space: dict[str, Any] = field(default_factory=dict)


def _shipped_policy() -> tuple[dict[str, Any], dict[str, Any]]:
    """The sampler and pruner sections of the built-in ``lora_small`` space: what ships."""
    shipped = load_space("lora_small")
    return (
        {"type": shipped.sampler.type, **shipped.sampler.options},
        {"type": shipped.pruner.type, **shipped.pruner.options},
    )


POLICIES = (
    Policy("random", {"type": "random", "seed": 0}, {"type": "none"}),
    Policy("random + median", {"type": "random", "seed": 0}, {"type": "median"}),
    Policy("Optuna TPE", {"type": "tpe", "seed": 0}, {"type": "none"}),
    Policy("Optuna TPE + Hyperband", {"type": "tpe", "seed": 0}, {"type": "hyperband"}),
    Policy(
        "hpsearch previous default",
        {"type": "tpe", "seed": 0, "n_startup_trials": 5},
        {"type": "hyperband", "min_resource": "auto", "reduction_factor": 3},
    ),
    Policy("hpsearch default", *_shipped_policy()),
)
RANDOM = POLICIES[0].name
DEFAULT = POLICIES[-1].name
TPE = POLICIES[2].name


def _variant(label: str, sampler: dict[str, Any], pruner: dict[str, Any]) -> Policy:
    base = POLICIES[-1]
    return Policy(f"default, {label}", {**base.sampler, **sampler}, {**base.pruner, **pruner})


# --ablation: the default with one setting changed, to justify each of its settings.
ABLATIONS = (
    _variant("min_evaluations 1", {}, {"min_evaluations": 1}),
    _variant("min_evaluations 2", {}, {"min_evaluations": 2}),
    _variant("min_evaluations 4", {}, {"min_evaluations": 4}),
    _variant("min_evaluations 6", {}, {"min_evaluations": 6}),
    _variant("reduction_factor 2", {}, {"reduction_factor": 2}),
    _variant("reduction_factor 4", {}, {"reduction_factor": 4}),
    _variant("n_startup_trials 5", {"n_startup_trials": 5}, {}),
    _variant("n_startup_trials 20", {"n_startup_trials": 20}, {}),
    Policy(
        "default, hyperband pruner",
        POLICIES[-1].sampler,
        {"type": "hyperband", "min_resource": 3, "reduction_factor": 3},
    ),
    Policy("default, median pruner", POLICIES[-1].sampler, {"type": "median", "n_warmup_steps": 3}),
)

# Issue 14's candidates: promotion-type successive halving (pause and resume) and a compute
# budget written in the space (design14.md).
_PROMOTION = {"type": "promotion", "min_evaluations": 1, "reduction_factor": 3}
_TPE = {"type": "tpe", "seed": 0}
CANDIDATES = (
    Policy("promotion", dict(_TPE), dict(_PROMOTION)),
    Policy("promotion r2", dict(_TPE), {**_PROMOTION, "min_evaluations": 2}),
    # The sampler's share: the same pausing and promotion with random sampling (syne-tune's
    # st_asha_promotion is this method).
    Policy("random + promotion", {"type": "random", "seed": 0}, dict(_PROMOTION)),
    Policy("TPE + promotion, startup 5", {**_TPE, "n_startup_trials": 5}, dict(_PROMOTION)),
    Policy("TPE + promotion, startup 10", {**_TPE, "n_startup_trials": 10}, dict(_PROMOTION)),
    # BOHB's hedge: a third of the trials drawn at random instead of from TPE's model.
    Policy("promotion, random 1/3", {**_TPE, "random_fraction": 1 / 3}, dict(_PROMOTION)),
    _variant("random 1/3", {"random_fraction": 1 / 3}, {}),
    Policy(
        "promotion, space compute_budget",
        dict(_TPE),
        dict(_PROMOTION),
        space={"compute_budget": {"fbe": 100}},
    ),
)
ALL_POLICIES = POLICIES + ABLATIONS + CANDIDATES
BY_NAME = {p.name: p for p in ALL_POLICIES}
