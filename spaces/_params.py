"""Typed parameter models of a search space.

A parameter is one of four kinds (``float``, ``int``, ``categorical``, ``fixed``) and may be
conditional: ``when: {optim: sgd}`` means "sample this only when ``optim`` is ``sgd``".
These classes are plain data; turning them into Optuna distributions is the search layer's job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field, fields
from typing import Any, Literal, TypeAlias

from hpsearch.spaces._fields import spec_field

Scalar: TypeAlias = bool | int | float | str | None
ParamKind = Literal["float", "int", "categorical", "fixed"]

MAX_POINTS = 10_000
"""A stepped range with more points than this is not listed by ``values()`` (None, as for a
continuous range): listing 10^9 points would hang whatever asked for them."""


@dataclass(frozen=True)
class Condition:
    """Sample the owning parameter only when ``parent`` took one of ``values``."""

    parent: str
    values: tuple[Any, ...]

    def holds(self, sampled: Mapping[str, Any]) -> bool:
        return self.parent in sampled and sampled[self.parent] in self.values


@dataclass(frozen=True)
class _ParamBase:
    name: str
    _: KW_ONLY  # when and description: keyword-only (a subclass's own fields stay positional)
    when: tuple[Condition, ...] = spec_field(
        (),
        doc="Sample this parameter only when a categorical or fixed parent took one of the "
        "given values: {parent: value} or {parent: [v1, v2]}.",
        kw_only=True,
    )
    description: str | None = spec_field(
        None, doc="What this parameter is for (shown with the space).", kw_only=True
    )

    def active(self, sampled: Mapping[str, Any]) -> bool:
        return all(condition.holds(sampled) for condition in self.when)


@dataclass(frozen=True)
class FloatParam(_ParamBase):
    """A float range: uniform, log-uniform (log: true) or on a grid (step)."""

    low: float = spec_field(doc="The lowest value (below high; above 0 when log: true).")
    high: float = spec_field(doc="The highest value.")
    log: bool = spec_field(False, doc="Sample log-uniformly (needs low > 0; excludes step).")
    step: float | None = spec_field(None, doc="Sample on a grid low, low + step, ...")
    kind: ParamKind = field(default="float", init=False)

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and self.low <= float(value) <= self.high

    def count(self) -> int | None:
        """Number of points on the range's grid, or None when continuous."""
        if self.step is None:
            return None
        return math.floor((self.high - self.low) / self.step + 1e-9) + 1

    def values(self) -> tuple[Any, ...] | None:
        """Finite list of values (for grids), or None when continuous or over MAX_POINTS."""
        count, step = self.count(), self.step
        if count is None or step is None or count > MAX_POINTS:
            return None
        return tuple(round(self.low + i * step, 12) for i in range(count))


@dataclass(frozen=True)
class IntParam(_ParamBase):
    """An integer range: uniform, log-uniform (log: true) or with a step."""

    low: int = spec_field(doc="The lowest value (below high; above 0 when log: true).")
    high: int = spec_field(doc="The highest value.")
    log: bool = spec_field(False, doc="Sample log-uniformly (needs low > 0).")
    step: int = spec_field(1, doc="Sample low, low + step, ... (log: true needs step 1).")
    kind: ParamKind = field(default="int", init=False)

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def count(self) -> int:
        return (self.high - self.low) // self.step + 1

    def values(self) -> tuple[Any, ...] | None:
        """Every value in the range, or None when there are more than MAX_POINTS."""
        if self.count() > MAX_POINTS:
            return None
        return tuple(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class CategoricalParam(_ParamBase):
    """One of a list of values."""

    choices: tuple[Any, ...] = spec_field(
        doc="The values: unique scalars (strings, numbers, booleans or null)."
    )
    kind: ParamKind = field(default="categorical", init=False)

    def contains(self, value: Any) -> bool:
        return value in self.choices

    def values(self) -> tuple[Any, ...] | None:
        return self.choices


@dataclass(frozen=True)
class FixedParam(_ParamBase):
    """One value, the same in every trial (a bare value is shorthand for this)."""

    value: Any = spec_field(doc="The value (any YAML value).")
    kind: ParamKind = field(default="fixed", init=False)

    def contains(self, value: Any) -> bool:
        return bool(value == self.value)

    def values(self) -> tuple[Any, ...] | None:
        return (self.value,)


Param: TypeAlias = FloatParam | IntParam | CategoricalParam | FixedParam

PARAM_CLASSES: dict[str, type[Param]] = {
    "float": FloatParam,
    "int": IntParam,
    "categorical": CategoricalParam,
    "fixed": FixedParam,
}
"""Each parameter kind (its ``type:`` in YAML) and the class it loads into."""


def yaml_keys(kind: str) -> tuple[str, ...]:
    """The keys a parameter definition of ``kind`` may hold, in the order the docs use."""
    common = tuple(f.name for f in fields(_ParamBase) if f.name != "name")
    own = [f.name for f in fields(PARAM_CLASSES[kind]) if f.init and f.name not in common]
    return ("type", *(n for n in own if n != "name"), *common)


def param_to_dict(param: Param) -> dict[str, Any]:
    """The YAML form of a parameter (inverse of the loader)."""
    out: dict[str, Any] = {"type": param.kind}
    if isinstance(param, FloatParam):
        out.update(low=param.low, high=param.high)
        if param.log:
            out["log"] = True
        if param.step is not None:
            out["step"] = param.step
    elif isinstance(param, IntParam):
        out.update(low=param.low, high=param.high)
        if param.log:
            out["log"] = True
        if param.step != 1:
            out["step"] = param.step
    elif isinstance(param, CategoricalParam):
        out["choices"] = list(param.choices)
    else:
        out["value"] = list(param.value) if isinstance(param.value, tuple) else param.value
    if param.when:
        out["when"] = {
            c.parent: (list(c.values) if len(c.values) > 1 else c.values[0]) for c in param.when
        }
    if param.description:
        out["description"] = param.description
    return out
