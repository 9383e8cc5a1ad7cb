"""Warm-start parameter sets: every key is a parameter of the space, in its range, active.

The same check reads a space's ``warm_start:`` list and the parameters ``hpsearch run
--warm-start-from STUDY`` takes from an earlier study's best trial: a parameter the space does
not have is an error naming it and the parameters the space has, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpsearch.spaces._errors import IssueCollector, SpaceIssue, join_path
from hpsearch.spaces._params import FixedParam, FloatParam, IntParam, Param

__all__ = ["load_warm_start", "warm_start_issues"]


def warm_start_issues(
    params: tuple[Param, ...], entry: Mapping[str, Any], path: str
) -> list[SpaceIssue]:
    """Every problem of one warm-start set ``entry`` (at YAML path ``path``)."""
    by_name = {p.name: p for p in params}
    known = {p.name: p.value for p in params if isinstance(p, FixedParam)}
    known.update((k, v) for k, v in entry.items() if k in by_name)
    issues = []
    for key, value in entry.items():
        param = by_name.get(key)
        at = join_path(path, str(key))
        if param is None:
            issues.append(SpaceIssue(at, "not a parameter of this space", key, ", ".join(by_name)))
        elif not param.contains(value):
            issues.append(
                SpaceIssue(at, "value is outside the parameter's range", value, _describe(param))
            )
        elif all(c.parent in known for c in param.when) and not param.active(known):
            conditions = ", ".join(f"{c.parent} in {list(c.values)}" for c in param.when)
            issues.append(
                SpaceIssue(
                    at,
                    "is not used with the set's other values (its condition does not hold)",
                    value,
                    f"drop it, or set {conditions}",
                )
            )
    return issues


def load_warm_start(
    data: Any, params: tuple[Param, ...], issues: IssueCollector
) -> tuple[dict[str, Any], ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        issues.add("warm_start", "must be a list of parameter mappings", data)
        return ()
    out = []
    for i, entry in enumerate(data):
        path = join_path("warm_start", i)
        if not isinstance(entry, Mapping):
            issues.add(path, "must be a mapping of parameter name to value", entry)
            continue
        for issue in warm_start_issues(params, entry, path):
            issues.add(issue.path, issue.message, issue.value, issue.allowed)
        out.append(dict(entry))
    return tuple(out)


def _describe(param: Param) -> str:
    if isinstance(param, (FloatParam, IntParam)):
        return f"{param.low} .. {param.high}"
    return ", ".join(map(repr, param.values() or ()))
