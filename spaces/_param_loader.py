"""Parse and validate the ``params:`` section of a space."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hpsearch.spaces._check import Reader, is_int, is_number, suggest
from hpsearch.spaces._errors import IssueCollector, join_path
from hpsearch.spaces._knobs import KNOBS
from hpsearch.spaces._limits import MAX_EXACT_INT
from hpsearch.spaces._params import (
    PARAM_CLASSES,
    CategoricalParam,
    Condition,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    yaml_keys,
)

PARAM_TYPES = tuple(PARAM_CLASSES)
_KEYS = {kind: yaml_keys(kind) for kind in PARAM_TYPES}
_SCALAR = (bool, int, float, str, type(None))


def load_params(data: Any, issues: IssueCollector) -> tuple[Param, ...]:
    if not isinstance(data, Mapping) or not data:
        issues.add("params", "must be a non-empty mapping of parameter name to definition", data)
        return ()
    params: list[Param] = []
    for name, spec in data.items():
        path = join_path("params", str(name))
        if not isinstance(name, str) or not name.isidentifier():
            issues.add(path, "parameter names must be identifiers", name, "letters, digits, _")
            continue
        param = _load_param(name, spec, path, issues)
        if param is not None:
            _check_knob(param, path, issues)
            params.append(param)
    _check_conditions(params, issues)
    return tuple(params)


def _load_param(name: str, spec: Any, path: str, issues: IssueCollector) -> Param | None:
    if not isinstance(spec, Mapping):
        # Shorthand: a bare value (or list) is a fixed parameter.
        return FixedParam(name, tuple(spec) if isinstance(spec, list) else spec)
    reader = Reader(spec, path, issues)
    kind = spec.get("type")
    if kind not in PARAM_TYPES:
        issues.add(
            reader.at("type"),
            "is required and must name a parameter kind" + suggest(str(kind), PARAM_TYPES),
            kind,
            ", ".join(PARAM_TYPES),
        )
        return None
    reader.unknown_keys(_KEYS[kind])
    when = _load_when(spec.get("when"), reader.at("when"), issues)
    description = reader.string("description")
    if kind == "fixed":
        if "value" not in spec:
            issues.add(reader.at("value"), "is required for a fixed parameter")
            return None
        value = spec["value"]
        return FixedParam(
            name,
            tuple(value) if isinstance(value, list) else value,
            when=when,
            description=description,
        )
    if kind == "categorical":
        return _load_categorical(name, reader, when, description)
    return _load_numeric(name, str(kind), reader, when, description)


def _load_categorical(
    name: str, reader: Reader, when: tuple[Condition, ...], description: str | None
) -> Param | None:
    choices = reader.raw("choices")
    path = reader.at("choices")
    if not isinstance(choices, list) or not choices:
        reader.issues.add(path, "must be a non-empty list", choices)
        return None
    bad = False
    for i, choice in enumerate(choices):
        if not isinstance(choice, _SCALAR):
            reader.issues.add(
                join_path(path, i),
                "choices must be scalars",
                choice,
                "strings, numbers, booleans or null (join module lists as 'q_proj,v_proj')",
            )
            bad = True
    if not bad and len({repr(c) for c in choices}) != len(choices):
        reader.issues.add(path, "choices must be unique", choices)
        bad = True
    if bad:
        return None
    return CategoricalParam(name, tuple(choices), when=when, description=description)


def _exact_int(value: Any) -> bool:
    return is_int(value) and abs(value) <= MAX_EXACT_INT


def _load_numeric(
    name: str, kind: str, reader: Reader, when: tuple[Condition, ...], description: str | None
) -> Param | None:
    issues = reader.issues
    check = _exact_int if kind == "int" else is_number
    allowed = (
        "an integer from -2**53 to 2**53 (Optuna stores values as floats)"
        if kind == "int"
        else "a finite number"
    )
    low, high = reader.raw("low"), reader.raw("high")
    ok = True
    for key, value in (("low", low), ("high", high)):
        if not check(value):
            issues.add(
                reader.at(key), "is required" if value is None else "is not valid", value, allowed
            )
            ok = False
    log = reader.boolean("log", False)
    step = reader.raw("step")
    if step is not None and (not check(step) or step <= 0):
        issues.add(reader.at("step"), "is not valid", step, f"{allowed} > 0")
        ok = False
    if not ok:
        return None
    if not low < high:
        issues.add(
            reader.path,
            "low must be below high",
            {"low": low, "high": high},
            "low < high (use type: fixed for a single value)",
        )
        return None
    if log and low <= 0:
        issues.add(
            reader.at("low"),
            "a log-scaled range must start above zero",
            low,
            "low > 0 when log: true",
        )
        return None
    if log and step is not None and not (kind == "int" and step == 1):
        issues.add(
            reader.at("step"), "log and step cannot be combined", step, "either log: true or a step"
        )
        return None
    if step is not None and step > high - low:
        issues.add(
            reader.at("step"),
            "step is larger than the range",
            step,
            f"at most high - low = {high - low}",
        )
        return None
    if kind == "int":
        return IntParam(
            name,
            int(low),
            int(high),
            log=log,
            step=int(step or 1),
            when=when,
            description=description,
        )
    return FloatParam(
        name,
        float(low),
        float(high),
        log=log,
        step=None if step is None else float(step),
        when=when,
        description=description,
    )


def _load_when(data: Any, path: str, issues: IssueCollector) -> tuple[Condition, ...]:
    if data is None:
        return ()
    if not isinstance(data, Mapping) or not data:
        issues.add(
            path,
            "must map a parent parameter to the value(s) that enable this one",
            data,
            "e.g. {optim: sgd} or {optim: [sgd, adamw_torch]}",
        )
        return ()
    conditions = []
    for parent, values in data.items():
        values = tuple(values) if isinstance(values, list) else (values,)
        if not values:
            issues.add(join_path(path, str(parent)), "needs at least one value", [])
            continue
        conditions.append(Condition(str(parent), values))
    return tuple(conditions)


def _param_values(param: Param) -> list[Any]:
    if isinstance(param, (FloatParam, IntParam)):
        return [param.low, param.high]
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    return [list(param.value) if isinstance(param.value, tuple) else param.value]


def _check_knob(param: Param, path: str, issues: IssueCollector) -> None:
    knob = KNOBS.get(param.name)
    if knob is None:
        return  # a TrainingArguments field: checked against its signature by the search layer
    for value in _param_values(param):
        if isinstance(value, float) and not math.isfinite(value):
            continue  # reported at its own path by the document check
        if not knob.check(value):
            issues.add(path, f"value out of range for {param.name}", value, knob.allowed)


def _check_conditions(params: list[Param], issues: IssueCollector) -> None:
    by_name = {p.name: p for p in params}
    for param in params:
        for condition in param.when:
            path = join_path("params", param.name, "when", condition.parent)
            parent = by_name.get(condition.parent)
            if condition.parent == param.name:
                issues.add(path, "a parameter cannot depend on itself", condition.parent)
            elif parent is None:
                issues.add(
                    path,
                    "unknown parent parameter" + suggest(condition.parent, by_name),
                    condition.parent,
                    ", ".join(by_name),
                )
            elif not isinstance(parent, (CategoricalParam, FixedParam)):
                issues.add(
                    path,
                    "conditions may only depend on categorical or fixed parameters",
                    parent.kind,
                    "a categorical or fixed parent",
                )
            else:
                allowed = parent.values() or ()
                for value in condition.values:
                    if value not in allowed:
                        issues.add(
                            path,
                            f"{condition.parent} can never take this value",
                            value,
                            ", ".join(map(repr, allowed)),
                        )
    _check_cycles(by_name, issues)


def _check_cycles(by_name: dict[str, Param], issues: IssueCollector) -> None:
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2 or name not in by_name:
            return
        if state.get(name) == 1:
            cycle = [*trail[trail.index(name) :], name]
            issues.add(
                join_path("params", name, "when"),
                "conditions form a cycle",
                " -> ".join(cycle),
                "an acyclic chain of conditions",
            )
            return
        state[name] = 1
        for condition in by_name[name].when:
            visit(condition.parent, [*trail, name])
        state[name] = 2

    for name in by_name:
        visit(name, [])


def sampling_order(params: tuple[Param, ...]) -> tuple[Param, ...]:
    """Parents before children, otherwise in declaration order."""
    by_name = {p.name: p for p in params}
    done: list[Param] = []
    seen: set[str] = set()

    def visit(param: Param) -> None:
        if param.name in seen:
            return
        seen.add(param.name)
        for condition in param.when:
            if condition.parent in by_name:
                visit(by_name[condition.parent])
        done.append(param)

    for param in params:
        visit(param)
    return tuple(done)
