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
from dataclasses import dataclass
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
from hpsearch.search.policy._plugins import resolve_pruner, resolve_sampler
from hpsearch.spaces import (
    PRUNERS,
    SAMPLERS,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    PluginError,
    SearchSpace,
    SpaceIssue,
)

_CALLABLE_OPTIONS = (
    "gamma",
    "weights",
    "constraints_func",
    "independent_sampler",
    "x0",
    "source_trials",
)
_ANY = "*"  # the factory takes **kwargs: any option name


def _allowed_options(factory: Callable[..., Any], exclude: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for name, parameter in inspect.signature(factory).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            names.append(_ANY)
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
            names.append(name)
    return tuple(n for n in names if n not in exclude and n not in _CALLABLE_OPTIONS)


def _check_options(
    section: str, kind: str, options: Mapping[str, Any], allowed: tuple[str, ...]
) -> list[SpaceIssue]:
    issues = []
    for key in options:
        if key not in allowed and _ANY not in allowed:
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


def _known(options: Mapping[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in allowed or _ANY in allowed}


def validate_policy(space: SearchSpace) -> list[SpaceIssue]:
    """Every problem with the space's sampler and pruner: names, options, types, ranges."""
    sampler, pruner = SAMPLERS.get(space.sampler.type), PRUNERS.get(space.pruner.type)
    try:
        sampler_factory = resolve_sampler(sampler.name)
        pruner_factory = resolve_pruner(pruner.name)
    except PluginError as exc:
        section = "pruner" if str(exc).startswith("pruner") else "sampler"
        name = getattr(space, section).type
        return [SpaceIssue(f"{section}.type", str(exc), name)]
    sampler_allowed = _allowed_options(sampler_factory, sampler.derived)
    issues = _check_options("sampler", sampler.name, space.sampler.options, sampler_allowed)
    pruner_allowed = _allowed_options(pruner_factory, ())
    if pruner.rungs:
        pruner_allowed = (*pruner_allowed, "min_evaluations")
    issues += _check_options("pruner", pruner.name, space.pruner.options, pruner_allowed)
    known_sampler = {
        k: v
        for k, v in space.sampler.options.items()
        if k in sampler_allowed or _ANY in sampler_allowed
    }
    known_pruner = {
        k: v
        for k, v in space.pruner.options.items()
        if k in pruner_allowed or _ANY in pruner_allowed
    }
    issues += check_option_values("sampler", sampler_factory, known_sampler, sampler.builtin)
    issues += check_option_values("pruner", pruner_factory, known_pruner, pruner.builtin)
    issues += check_cross("pruner", known_pruner)
    issues += ignored_options("sampler", sampler.name, known_sampler)
    options = space.pruner.options
    if "min_evaluations" in options and "min_resource" in options:
        issues.append(
            SpaceIssue(
                "pruner.min_evaluations",
                "set min_evaluations or min_resource, not both",
                options["min_evaluations"],
            )
        )
    missing = missing_packages(sampler.packages)
    if missing:
        plain = ", ".join(s.name for s in SAMPLERS if not s.packages)
        issues.append(
            SpaceIssue(
                "sampler.type",
                f"the {sampler.name} sampler needs {', '.join(missing)}, which is not "
                "installed (every trial would fail)",
                sampler.name,
                f"pip install {' '.join(missing)}, or another sampler: {plain}",
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
            sampler = build_sampler(space, n_workers=1)
            pruner = build_pruner(space, first_eval_step=1)
        except (TypeError, ValueError) as exc:
            return [SpaceIssue("sampler/pruner", f"rejected by Optuna: {exc}")]
    if isinstance(sampler, DistinctSampler):
        sampler = sampler.inner
    issues = []
    for section, built, base in (("sampler", sampler, BaseSampler), ("pruner", pruner, BasePruner)):
        if not isinstance(built, base):
            name = getattr(space, section).type
            issues.append(
                SpaceIssue(
                    f"{section}.type",
                    f"{name} built a {type(built).__name__}, not an optuna {base.__name__}",
                    name,
                )
            )
    return issues


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
    entry = SAMPLERS.get(space.sampler.type)
    factory = resolve_sampler(entry.name)
    options = {**entry.defaults, **space.sampler.options}
    seed = options.pop("seed", None)
    if seed is not None:
        seed = int(seed) + seed_offset
    if entry.parallel_option is not None:
        options.setdefault(entry.parallel_option, n_workers > 1)
    if "group" in entry.derived:
        options["group"] = space.is_conditional and options["multivariate"]
    if entry.needs_grid_space:
        options["search_space"] = grid_search_space(space)
        return factory(seed=seed, **options)
    if "seed" in _allowed_options(factory, ()) or _ANY in _allowed_options(factory, ()):
        build = lambda trial_seed: factory(seed=trial_seed, **options)  # noqa: E731
    else:
        build = lambda trial_seed: factory(**options)  # noqa: E731
    return DistinctSampler(space, build, seed, infer_per_trial=bool(options.get("group")))


def build_pruner(
    space: SearchSpace, *, first_eval_step: int, max_step: int | None = None
) -> BasePruner:
    """The space's pruner.

    For Hyperband and successive halving, ``min_evaluations: N`` puts the first rung at the
    N-th evaluation (``N x first_eval_step``) and ``min_resource: auto`` at the first one;
    ``min_resource`` also takes a number of steps (or tokens, with token fidelity).
    """
    entry = PRUNERS.get(space.pruner.type)
    factory = resolve_pruner(entry.name)
    options = dict(space.pruner.options)
    if entry.rungs:
        options = _rung_options(options, first_eval_step)
        takes_max = "max_resource" in _allowed_options(factory, ())
        if takes_max and options.get("max_resource", "auto") == "auto" and max_step:
            options["max_resource"] = max_step
    elif entry.warmup_option is not None:
        options.setdefault(entry.warmup_option, first_eval_step)
    return factory(**options)


def _rung_options(options: Mapping[str, Any], first_eval_step: int) -> dict[str, Any]:
    """A rung pruner's options with ``min_evaluations`` / ``min_resource: auto`` resolved."""
    out = dict(options)
    evaluations = out.pop("min_evaluations", None)
    if evaluations is not None:
        out["min_resource"] = int(evaluations) * first_eval_step
    elif out.get("min_resource", "auto") == "auto":
        out["min_resource"] = first_eval_step
    return out


@dataclass(frozen=True)
class RungSchedule:
    """Where a built-in rung pruner (successive halving, Hyperband, promotion) can decide:
    only at a trial's first report at or past a step ``min_resource * reduction_factor**j``
    (every bracket's and every rung's step is one of them). At any other report it answers
    False and writes nothing, so a reporter need not ask it (Optuna's successive halving reads
    the trial's system attributes from the database at every call)."""

    min_resource: int
    reduction_factor: int

    def crosses(self, previous: int, step: int) -> bool:
        """Whether a rung step lies in ``(previous, step]``."""
        rung = self.min_resource
        while rung <= step:
            if rung > previous:
                return True
            rung *= self.reduction_factor
        return False


def rung_schedule(space: SearchSpace, *, first_eval_step: int) -> RungSchedule | None:
    """The space's pruner's rung steps (None: not a built-in rung pruner; ask it every time)."""
    entry = PRUNERS.get(space.pruner.type)
    if not entry.rungs or not entry.builtin:
        return None
    options = _rung_options(space.pruner.options, first_eval_step)
    parameter = inspect.signature(resolve_pruner(entry.name)).parameters.get("reduction_factor")
    default = None if parameter is None else parameter.default
    factor, low = options.get("reduction_factor", default), options.get("min_resource")
    numbers = [v for v in (factor, low) if isinstance(v, int) and not isinstance(v, bool)]
    if len(numbers) < 2 or numbers[0] < 2 or numbers[1] < 1:
        return None  # no integer schedule: the reporter asks the pruner at every report
    return RungSchedule(min_resource=numbers[1], reduction_factor=numbers[0])


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
