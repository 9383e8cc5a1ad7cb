"""Resolve a sampler or pruner name (a built-in, or a user's dotted path) to its factory.

The names and where they live are the registries of :mod:`hpsearch.spaces` (plain data); this
module imports what an entry points to and checks it is a sampler or pruner: a subclass of
Optuna's ``BaseSampler`` / ``BasePruner``, or a factory function (its result is checked when
it is built once during validation). Every problem is one line naming the plug-in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from hpsearch.spaces import PRUNERS, SAMPLERS, PluginError, Registry

__all__ = ["resolve_pruner", "resolve_sampler"]


def _resolve(registry: Registry, name: str, base: type) -> Callable[..., Any]:
    obj = registry.resolve(name)
    where = f"{registry.point} {name!r}"
    if isinstance(obj, type):
        if not issubclass(obj, base):
            raise PluginError(
                f"{where}: {obj.__module__}.{obj.__qualname__} is not a subclass of "
                f"optuna {base.__name__}"
            )
        return obj
    if not callable(obj):
        raise PluginError(
            f"{where}: {type(obj).__name__} object is neither an optuna {base.__name__} "
            "subclass nor a factory function"
        )
    return obj


def resolve_sampler(name: str) -> Callable[..., BaseSampler]:
    """The sampler class (or factory) of a built-in name or a dotted path."""
    return _resolve(SAMPLERS, name, BaseSampler)


def resolve_pruner(name: str) -> Callable[..., BasePruner]:
    """The pruner class (or factory) of a built-in name or a dotted path."""
    return _resolve(PRUNERS, name, BasePruner)
