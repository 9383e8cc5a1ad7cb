"""The search policy: Optuna sampler and pruner built from a space.

This is the one place the CLI, the driver, the workers and the benchmarks construct samplers
and pruners, so what is benchmarked is exactly what runs. Options in a space are checked against
the real constructor signatures (an unknown or misspelt option is an error, never dropped).
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from hpsearch.search.policy._distinct import DistinctSampler
from hpsearch.search.policy._option_checks import (
    check_cross,
    check_option_values,
    ignored_options,
    missing_packages,
)
from hpsearch.spaces import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    SearchSpace,
    SpaceIssue,
)

# Options hpsearch decides itself (from the space or the number of workers).
_DERIVED_SAMPLER_OPTIONS = {
    "tpe": ("group",),
    "grid": ("search_space",),
}
_RUNG_PRUNERS = ("hyperband", "successive_halving")
_CALLABLE_OPTIONS = (
    "gamma",
    "weights",
    "constraints_func",
    "independent_sampler",
    "x0",
    "source_trials",
)


def _sampler_classes() -> dict[str, Callable[..., BaseSampler]]:
    return {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "grid": optuna.samplers.GridSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "gp": optuna.samplers.GPSampler,
    }


def _pruner_classes() -> dict[str, Callable[..., BasePruner]]:
    return {
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "median": optuna.pruners.MedianPruner,
        "none": optuna.pruners.NopPruner,
    }


def _allowed_options(factory: Callable[..., Any], exclude: tuple[str, ...]) -> tuple[str, ...]:
    names = inspect.signature(factory).parameters
    return tuple(n for n in names if n not in exclude and n not in _CALLABLE_OPTIONS)


def _check_options(
    section: str, kind: str, options: Mapping[str, Any], allowed: tuple[str, ...]
) -> list[SpaceIssue]:
    issues = []
    for key in options:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            issues.append(
                SpaceIssue(
                    f"{section}.{key}",
                    f"not an option of the {kind} {section}" + hint,
                    key,
                    ", ".join(allowed) or "no options",
                )
            )
    return issues


def validate_policy(space: SearchSpace) -> list[SpaceIssue]:
    """Every problem with the space's sampler and pruner options: names, types, ranges."""
    sampler_factory = _sampler_classes()[space.sampler.type]
    pruner_factory = _pruner_classes()[space.pruner.type]
    sampler_allowed = _allowed_options(
        sampler_factory, _DERIVED_SAMPLER_OPTIONS.get(space.sampler.type, ())
    )
    issues = _check_options("sampler", space.sampler.type, space.sampler.options, sampler_allowed)
    pruner_allowed = _allowed_options(pruner_factory, ())
    if space.pruner.type in _RUNG_PRUNERS:
        pruner_allowed = (*pruner_allowed, "min_evaluations")
    issues += _check_options("pruner", space.pruner.type, space.pruner.options, pruner_allowed)
    known_sampler = {k: v for k, v in space.sampler.options.items() if k in sampler_allowed}
    known_pruner = {k: v for k, v in space.pruner.options.items() if k in pruner_allowed}
    issues += check_option_values("sampler", sampler_factory, known_sampler)
    issues += check_option_values("pruner", pruner_factory, known_pruner)
    issues += check_cross("pruner", known_pruner)
    issues += ignored_options("sampler", space.sampler.type, known_sampler)
    options = space.pruner.options
    if "min_evaluations" in options and "min_resource" in options:
        issues.append(
            SpaceIssue(
                "pruner.min_evaluations",
                "set min_evaluations or min_resource, not both",
                options["min_evaluations"],
            )
        )
    missing = missing_packages(space.sampler.type)
    if missing:
        issues.append(
            SpaceIssue(
                "sampler.type",
                f"the {space.sampler.type} sampler needs {', '.join(missing)}, which is not "
                "installed (every trial would fail)",
                space.sampler.type,
                f"pip install {' '.join(missing)}, or another sampler: tpe, random, grid",
            )
        )
    if not issues:
        issues += _build_once(space)
    return issues


def _build_once(space: SearchSpace) -> list[SpaceIssue]:
    """Build the sampler and pruner once, for the checks Optuna makes in its constructors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices: the option still works
        try:
            build_sampler(space, n_workers=1)
            build_pruner(space, first_eval_step=1)
        except (TypeError, ValueError) as exc:
            return [SpaceIssue("sampler/pruner", f"rejected by Optuna: {exc}")]
    return []


def grid_search_space(space: SearchSpace) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for param in space.params:
        if isinstance(param, FixedParam):
            continue  # fixed values are not sampled, so they are not part of the grid
        values = param.values()
        if values is None:
            raise ValueError(f"parameter {param.name!r} has no finite set of values for a grid")
        grid[param.name] = list(values)
    return grid


def grid_size(space: SearchSpace) -> int:
    size = 1
    for values in grid_search_space(space).values():
        size *= len(values)
    return size


def build_sampler(space: SearchSpace, *, n_workers: int = 1, seed_offset: int = 0) -> BaseSampler:
    """The space's sampler. ``n_workers > 1`` switches TPE's constant liar on (unless set).

    Every sampler but the grid is a :class:`~hpsearch.search.policy.DistinctSampler`: the
    space's sampler seeded per trial from the space's seed and the trial number, which never
    hands out a configuration already in the study (concurrent or resumed drivers included).
    """
    kind = space.sampler.type
    options = dict(space.sampler.options)
    seed = options.pop("seed", None)
    if seed is not None:
        seed = int(seed) + seed_offset
    factory = _sampler_classes()[kind]
    if kind == "tpe":
        options.setdefault("multivariate", True)
        options.setdefault("constant_liar", n_workers > 1)
        options["group"] = space.is_conditional and options["multivariate"]
    elif kind == "grid":
        options["search_space"] = grid_search_space(space)
        return factory(seed=seed, **options)
    elif kind in ("cmaes", "gp"):
        options.setdefault("warn_independent_sampling", False)
    return DistinctSampler(
        space,
        lambda trial_seed: factory(seed=trial_seed, **options),
        seed,
        infer_per_trial=bool(options.get("group")),
    )


def build_pruner(
    space: SearchSpace, *, first_eval_step: int, max_step: int | None = None
) -> BasePruner:
    """The space's pruner.

    For Hyperband and successive halving, ``min_evaluations: N`` puts the first rung at the
    N-th evaluation (``N x first_eval_step``) and ``min_resource: auto`` at the first one;
    ``min_resource`` also takes a number of steps (or tokens, with token fidelity).
    """
    kind = space.pruner.type
    options = dict(space.pruner.options)
    if kind in _RUNG_PRUNERS:
        evaluations = options.pop("min_evaluations", None)
        if evaluations is not None:
            options["min_resource"] = int(evaluations) * first_eval_step
        elif options.get("min_resource", "auto") == "auto":
            options["min_resource"] = first_eval_step
        if kind == "hyperband" and options.get("max_resource", "auto") == "auto" and max_step:
            options["max_resource"] = max_step
    elif kind == "median":
        options.setdefault("n_warmup_steps", first_eval_step)
    return _pruner_classes()[kind](**options)


def sample_params(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Sample every active parameter of ``space`` on ``trial`` (parents before children)."""
    from hpsearch.spaces import sampling_order

    sampled: dict[str, Any] = {}
    for param in sampling_order(space.params):
        if not param.active(sampled):
            continue
        if isinstance(param, FixedParam):
            sampled[param.name] = param.value
        elif isinstance(param, CategoricalParam):
            sampled[param.name] = trial.suggest_categorical(param.name, list(param.choices))
        elif isinstance(param, IntParam):
            sampled[param.name] = trial.suggest_int(
                param.name, param.low, param.high, step=param.step, log=param.log
            )
        elif isinstance(param, FloatParam):
            sampled[param.name] = trial.suggest_float(
                param.name, param.low, param.high, step=param.step, log=param.log
            )
    return sampled
