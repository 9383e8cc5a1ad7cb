"""Check the values of a space's sampler and pruner options before anything runs.

Names are checked against the Optuna constructors' signatures (``policy._check_options``);
this module checks each value's type against the constructor's annotation and its range
against what the sampler or pruner needs. Optuna checks some of these in its constructors,
but others only when a trial is sampled or pruned: ``HyperbandPruner(reduction_factor=nan)``
builds fine and then every trial FAILs with a TypeError, and ``TPESampler(n_startup_trials=-5)``
silently behaves as 0.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hpsearch.spaces import MAX_INT, SpaceIssue, short_repr

_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}


@dataclass(frozen=True)
class _Range:
    minimum: float | None = None  # inclusive
    exclusive_minimum: float | None = None
    maximum: float | None = None
    exclusive_maximum: float | None = None
    text: str = ""

    def holds(self, value: float) -> bool:
        if self.minimum is not None and value < self.minimum:
            return False
        if self.exclusive_minimum is not None and value <= self.exclusive_minimum:
            return False
        if self.exclusive_maximum is not None and value >= self.exclusive_maximum:
            return False
        return self.maximum is None or value <= self.maximum


_COUNT = _Range(minimum=0, maximum=MAX_INT, text=f"an integer from 0 to {MAX_INT}")
_POSITIVE_COUNT = _Range(minimum=1, maximum=MAX_INT, text=f"an integer from 1 to {MAX_INT}")
_POSITIVE = _Range(exclusive_minimum=0, text="a finite number > 0")

# Ranges by option name; every option of the built-in samplers and pruners is listed.
RANGES: dict[str, _Range] = {
    "seed": _Range(minimum=0, maximum=MAX_INT, text=f"an integer from 0 to {MAX_INT}"),
    "n_startup_trials": _COUNT,
    "n_ei_candidates": _Range(minimum=1, maximum=100_000, text="an integer from 1 to 100000"),
    "prior_weight": _POSITIVE,
    "sigma0": _POSITIVE,
    "popsize": _Range(minimum=2, maximum=100_000, text="an integer from 2 to 100000"),
    "inc_popsize": _Range(minimum=-1, maximum=MAX_INT, text=f"an integer from -1 to {MAX_INT}"),
    "min_resource": _POSITIVE_COUNT,
    "max_resource": _POSITIVE_COUNT,
    "reduction_factor": _Range(minimum=2, maximum=MAX_INT, text="an integer factor >= 2"),
    "bootstrap_count": _COUNT,
    "min_early_stopping_rate": _COUNT,
    "n_warmup_steps": _COUNT,
    "interval_steps": _POSITIVE_COUNT,
    "n_min_trials": _POSITIVE_COUNT,
    "min_evaluations": _POSITIVE_COUNT,
    "random_fraction": _Range(minimum=0, exclusive_maximum=1, text="a number from 0 to below 1"),
}

# String values some options take besides their annotation (hpsearch resolves "auto").
_AUTO = ("min_resource", "max_resource")

# Options the installed Optuna accepts and then ignores (CmaEsSampler: "From v4.4.0 onward,
# `restart_strategy` automatically falls back to `None`"; inc_popsize only served restarts).
IGNORED = {
    ("cmaes", "restart_strategy"): "Optuna 4.4 and later ignore it (no restarts)",
    ("cmaes", "inc_popsize"): "Optuna 4.4 and later ignore it (no restarts)",
}


def annotation_types(factory: Callable[..., Any], name: str) -> tuple[type, ...] | None:
    """The Python types a constructor argument accepts, from its annotation (None: unknown)."""
    parameter = inspect.signature(factory).parameters.get(name)
    if parameter is None or parameter.annotation is inspect.Parameter.empty:
        return None
    annotation = parameter.annotation
    if isinstance(annotation, type):
        return (annotation,)
    types: list[type] = []
    for part in str(annotation).split("|"):
        part = part.strip()
        if part == "None":
            types.append(type(None))
        elif part in _TYPES:
            types.append(_TYPES[part])
        else:
            return None  # an annotation this check does not understand: leave it to Optuna
    return tuple(types)


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int):
        return int in types or float in types
    return isinstance(value, tuple(t for t in types if t is not int and t is not bool))


def _type_text(types: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    parts = [names.get(t, "null") for t in types]
    return " or ".join(dict.fromkeys(parts))


def check_option_values(
    section: str, factory: Callable[..., Any], options: Mapping[str, Any], builtin: bool = True
) -> list[SpaceIssue]:
    """Type and range problems of ``options`` (names already known to be valid or reported).

    The ranges are those of the built-in samplers' and pruners' options; a user plug-in's
    options are checked by type only (its annotations).
    """
    issues: list[SpaceIssue] = []
    for key, value in options.items():
        path = f"{section}.{key}"
        if isinstance(value, float) and not math.isfinite(value):
            issues.append(SpaceIssue(path, "must be a finite number", value))
            continue
        if key in _AUTO and value == "auto":
            continue
        types = (int,) if key == "min_evaluations" else annotation_types(factory, key)
        if key in _AUTO:
            types = (int,)
        if types is not None and not _type_ok(value, types):
            allowed = _type_text(types) + (' or "auto"' if key in _AUTO else "")
            issues.append(SpaceIssue(path, "has the wrong type", value, allowed))
            continue
        rule = RANGES.get(key) if builtin else None
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if rule is not None and number and not rule.holds(value):
            issues.append(SpaceIssue(path, "is out of range", value, rule.text))
    return issues


def check_cross(section: str, options: Mapping[str, Any]) -> list[SpaceIssue]:
    low, high = options.get("min_resource"), options.get("max_resource")
    if isinstance(low, int) and isinstance(high, int) and high < low:
        return [
            SpaceIssue(
                f"{section}.max_resource",
                "is below min_resource",
                high,
                f">= min_resource = {short_repr(low)}",
            )
        ]
    return []


def missing_packages(packages: tuple[str, ...]) -> list[str]:
    """Which of a plug-in's needed packages (its registry entry's) are not installed."""
    return [p for p in packages if importlib.util.find_spec(p) is None]


def ignored_options(section: str, kind: str, options: Mapping[str, Any]) -> list[SpaceIssue]:
    return [
        SpaceIssue(
            f"{section}.{key}", f"has no effect: {IGNORED[(kind, key)]}", options[key], "drop it"
        )
        for key in options
        if (kind, key) in IGNORED
    ]
