"""Configurations of a declarative space: Optuna distributions, identity keys, enumeration.

A *configuration* is the set of sampled (non-fixed) parameters a trial runs with, only those
active under the space's ``when:`` conditions. Two configurations are the same when every
parameter takes the same value: for a categorical the same choice, for an integer the same
number, for a stepped float the same grid index (immune to the last-bit differences between
samplers' ``low + k * step``), for a continuous float the same float.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpsearch.spaces import (
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    SearchSpace,
    sampling_order,
)

ConfigKey: TypeAlias = tuple[tuple[str, Any], ...]

# Finite spaces up to this many configurations are enumerated (exhaustion, last free points).
ENUMERATION_LIMIT = 100_000


def param_distribution(param: Param) -> BaseDistribution | None:
    """The distribution ``policy.sample_params`` suggests for ``param`` (None when fixed)."""
    if isinstance(param, CategoricalParam):
        return CategoricalDistribution(list(param.choices))
    if isinstance(param, IntParam):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, FloatParam):
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    return None


def single_value(dist: BaseDistribution) -> Any:
    """The only value of a distribution with one value (what ``Trial`` suggests for it)."""
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[0]
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    return dist.low


def _value_key(dist: BaseDistribution, value: Any) -> Any:
    if isinstance(dist, CategoricalDistribution):
        try:
            return dist.to_internal_repr(value)  # the index of the choice
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(dist, IntDistribution):
        return int(value) if float(value).is_integer() else None
    assert isinstance(dist, FloatDistribution)
    if dist.step is not None:
        return round((float(value) - dist.low) / dist.step)
    return float(value)


class SpaceConfigs:
    """What a space's configurations are, for telling them apart and listing them."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.order: tuple[Param, ...] = sampling_order(space.params)
        self.fixed = {p.name for p in space.params if isinstance(p, FixedParam)}
        self.distributions: dict[str, BaseDistribution] = {}
        for param in self.order:
            dist = param_distribution(param)
            if dist is not None:
                self.distributions[param.name] = dist
        self._all: list[dict[str, Any]] | None = None
        self._all_keys: frozenset[ConfigKey] | None = None
        self._counted = False

    def key(self, params: Mapping[str, Any]) -> ConfigKey | None:
        """The identity of a configuration; None when it is not one of this space's
        (an unknown parameter name or a value outside a categorical's choices)."""
        out = []
        for name, value in params.items():
            if name in self.fixed:
                continue  # never suggested: the same in every configuration
            dist = self.distributions.get(name)
            if dist is None:
                return None
            value_key = _value_key(dist, value)
            if value_key is None:
                return None
            out.append((name, value_key))
        return tuple(sorted(out)) if out else None

    def agrees(self, params: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
        """Does configuration ``params`` take every given value of a sampled parameter?"""
        for name, value in given.items():
            dist = self.distributions.get(name)
            if dist is None:
                continue  # fixed or unknown: not part of a configuration
            if name not in params or _value_key(dist, params[name]) != _value_key(dist, value):
                return False
        return True

    def complete(self, pick: Any) -> dict[str, Any]:
        """One configuration, parents before children: ``pick(name, dist)`` gives each active
        parameter's value (distributions with a single value take it without a pick)."""
        sampled: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for param in self.order:
            if not param.active(sampled):
                continue
            if isinstance(param, FixedParam):
                sampled[param.name] = param.value
                continue
            dist = self.distributions[param.name]
            value = single_value(dist) if dist.single() else pick(param.name, dist)
            sampled[param.name] = params[param.name] = value
        return params

    # -- finite spaces --------------------------------------------------------------------
    def all_configurations(self) -> list[dict[str, Any]] | None:
        """Every configuration of a finite space (None: continuous, or over the limit)."""
        if not self._counted:
            self._counted = True
            try:
                found = list(itertools.islice(self._enumerate(0, {}, {}), ENUMERATION_LIMIT + 1))
            except _Unlisted:
                return None
            if len(found) <= ENUMERATION_LIMIT:
                self._all = found
                self._all_keys = frozenset(k for c in found if (k := self.key(c)) is not None)
        return self._all

    @property
    def size(self) -> int | None:
        configs = self.all_configurations()
        return None if configs is None else len(configs)

    def is_configuration(self, key: ConfigKey | None) -> bool:
        self.all_configurations()
        return key is not None and self._all_keys is not None and key in self._all_keys

    def _enumerate(
        self, index: int, sampled: dict[str, Any], params: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        if index == len(self.order):
            yield dict(params)
            return
        param = self.order[index]
        if not param.active(sampled):
            yield from self._enumerate(index + 1, sampled, params)
            return
        if isinstance(param, FixedParam):
            yield from self._enumerate(index + 1, {**sampled, param.name: param.value}, params)
            return
        values = _values(self.distributions[param.name])
        if values is None:
            raise _Unlisted(param.name)
        for value in values:
            yield from self._enumerate(
                index + 1, {**sampled, param.name: value}, {**params, param.name: value}
            )


class _Unlisted(Exception):
    """A parameter whose values are continuous or too many to list."""


def _values(dist: BaseDistribution) -> list[Any] | None:
    """Every value of a finite distribution, as Optuna's samplers write them (None: continuous
    or more than the enumeration limit)."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        if (dist.high - dist.low) // dist.step + 1 > ENUMERATION_LIMIT:
            return None
        return list(range(dist.low, dist.high + 1, dist.step))
    assert isinstance(dist, FloatDistribution)
    if dist.step is None:
        return None if not dist.single() else [dist.low]
    count = round((dist.high - dist.low) / dist.step) + 1
    if count > ENUMERATION_LIMIT:
        return None
    return [min(max(k * dist.step + dist.low, dist.low), dist.high) for k in range(count)]
