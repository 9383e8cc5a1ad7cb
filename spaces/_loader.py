"""Load a YAML space into a validated :class:`SearchSpace`, reporting every problem at once."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpsearch.spaces._check import Reader, suggest
from hpsearch.spaces._compute_budget import ComputeBudget, load_compute_budget
from hpsearch.spaces._cross import cross_checks
from hpsearch.spaces._errors import IssueCollector, SpaceIssue
from hpsearch.spaces._fields import (
    declared,
    default_of,
    keys_of,
    pattern_of,
    read_field,
    read_fields,
)
from hpsearch.spaces._limits import (
    MAX_DOCUMENT_BYTES,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    RAY_GRANULARITY,
    check_document,
    describe_bytes,
)
from hpsearch.spaces._param_loader import load_params
from hpsearch.spaces._plugins import REGISTRIES
from hpsearch.spaces._spec import (
    BatchSpec,
    EarlyStoppingSpec,
    ObjectiveSpec,
    PrunerSpec,
    ResourcesSpec,
    RetrySpec,
    SamplerSpec,
    SearchSpace,
)
from hpsearch.spaces._task import load_task
from hpsearch.spaces._warm_start import load_warm_start
from hpsearch.spaces._yaml import load_yaml, read_space_file, safe_load_yaml

__all__ = ["load_space_dict", "load_space_file", "load_space_text", "safe_load_yaml"]

_SCALAR_OPTION = (bool, int, float, str, type(None))
VALID_NAME_RE = re.compile(NAME_PATTERN)
NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME_ALLOWED = (
    f"1 to {MAX_NAME_LENGTH} letters, digits and _ . - starting with a letter or digit "
    "(the default study name is <name>-<model>)"
)


def load_space_file(path: str | Path) -> SearchSpace:
    """Read and validate a YAML space file (UTF-8, at most 1 MiB, through the safe loader)."""
    path = Path(path)
    text = read_space_file(path)
    return load_space_text(text, source=str(path), default_name=path.stem)


def load_space_text(text: str, source: str = "space", default_name: str = "custom") -> SearchSpace:
    data, duplicates = load_yaml(text, source)
    return _load(data, source, default_name, duplicates)


def load_space_dict(data: Any, source: str = "space", default_name: str = "custom") -> SearchSpace:
    """Validate a space given as plain data (a parsed YAML document, a stored study attribute)."""
    return _load(data, source, default_name, [])


def _load(data: Any, source: str, default_name: str, early: list[SpaceIssue]) -> SearchSpace:
    issues = IssueCollector()
    issues.extend(early)
    if not check_document(data, issues):
        issues.raise_if_any(source)  # past the bounds: not read further
    root = Reader(data, "", issues)
    root.unknown_keys(keys_of(SearchSpace))
    name = _name(root, default_name)
    params = load_params(root.raw("params"), issues)
    compute = load_compute_budget(root.raw("compute_budget"), issues)
    space = SearchSpace(
        name=name,
        description=root.string("description", "") or "",
        method=read_field(root, SearchSpace, "method"),
        objective=_objective(root.raw("objective"), issues),
        trials=_trials(root, compute),
        compute_budget=compute,
        sampler=SamplerSpec(*_plugin(root.raw("sampler"), "sampler", SamplerSpec(), issues)),
        pruner=PrunerSpec(*_plugin(root.raw("pruner"), "pruner", PrunerSpec(), issues)),
        early_stopping=_early_stopping(root.raw("early_stopping"), issues),
        resources=_resources(root.raw("resources"), issues),
        batch=_batch(root.raw("batch"), issues),
        retries=_retries(root.raw("retries"), issues),
        params=params,
        warm_start=load_warm_start(root.raw("warm_start"), params, issues),
        task=dict(root.raw("task") or {}) if isinstance(root.raw("task"), Mapping) else {},
    )
    if root.has("task"):
        load_task(root.raw("task"), issues)  # validate now; CLI flags are merged later
    cross_checks(space, issues)
    if not issues:
        _check_stored_size(space, issues)
    issues.raise_if_any(source)
    return space


def _name(root: Reader, default_name: str) -> str:
    """The space's name. It starts the default study name, so a bad one is an error."""
    if root.raw("name") is None:
        # From the file name: made valid here (the run prints the study name it gives).
        name = NAME_RE.sub("-", default_name).strip("-.")[:MAX_NAME_LENGTH]
        return name if name[:1].isalnum() else "custom"
    name = root.string("name", "custom")
    if isinstance(name, str) and name and not VALID_NAME_RE.fullmatch(name):
        root.issues.add("name", "is not a valid space name", name, _NAME_ALLOWED)
    elif isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
        message = f"is {len(name)} characters long, too long for a space name"
        root.issues.add("name", message, name, _NAME_ALLOWED)
    return str(name)


def _trials(root: Reader, compute: ComputeBudget | None) -> int | None:
    """The trial budget: None (no trial limit) only beside a compute budget, when ``trials``
    is not written (or written as null)."""
    if not root.has("trials"):
        return None if compute is not None else read_field(root, SearchSpace, "trials")
    if root.raw("trials") is None:
        if compute is None:
            root.issues.add(
                "trials",
                "null (no trial limit) needs a compute_budget",
                None,
                "an integer >= 1, or null beside compute_budget",
            )
            return int(default_of(SearchSpace, "trials"))
        return None
    value = read_field(root, SearchSpace, "trials")
    return int(value) if value is not None else None


def _check_stored_size(space: SearchSpace, issues: IssueCollector) -> None:
    """The space is stored as a study attribute and shown in the dashboard note: keep it small."""
    size = len(json.dumps(space.to_dict(), default=str).encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        issues.add(
            "<root>",
            f"the space is {describe_bytes(size)} once stored (aliases expanded)",
            allowed=f"at most {describe_bytes(MAX_DOCUMENT_BYTES)}",
        )


def _objective(data: Any, issues: IssueCollector) -> ObjectiveSpec:
    reader = Reader(data, "objective", issues)
    reader.unknown_keys(keys_of(ObjectiveSpec))
    metric = reader.string("metric", ObjectiveSpec().metric)
    if not re.match(pattern_of(ObjectiveSpec, "metric"), str(metric)):
        issues.add(
            reader.at("metric"),
            "the objective must be an evaluation metric",
            metric,
            "a name starting with eval_ (eval_loss, eval_accuracy, eval_perplexity)",
        )
    return ObjectiveSpec(metric=metric, **read_fields(reader, ObjectiveSpec, ("direction",)))


def _plugin(
    data: Any, section: str, default: SamplerSpec | PrunerSpec, issues: IssueCollector
) -> tuple[str, dict[str, Any]]:
    if isinstance(data, str):
        data = {"type": data}
    reader = Reader(data, section, issues)
    registry = REGISTRIES[section]
    kind = reader.raw("type", default.type)
    if not registry.accepts(kind):
        issues.add(
            reader.at("type"),
            "is not a known value" + suggest(str(kind), registry.names),
            kind,
            registry.allowed(),
        )
        kind = default.type
    options: dict[str, Any] = {}
    for key, value in reader.data.items():
        if key == "type":
            continue
        ok = isinstance(value, _SCALAR_OPTION) or (
            isinstance(value, list) and all(isinstance(v, _SCALAR_OPTION) for v in value)
        )
        if not ok:
            issues.add(reader.at(str(key)), "options must be scalars or lists of scalars", value)
            continue
        options[str(key)] = value
    return kind, options


def _early_stopping(data: Any, issues: IssueCollector) -> EarlyStoppingSpec:
    reader = Reader(data, "early_stopping", issues)
    reader.unknown_keys(keys_of(EarlyStoppingSpec))
    return EarlyStoppingSpec(**read_fields(reader, EarlyStoppingSpec, keys_of(EarlyStoppingSpec)))


def _resources(data: Any, issues: IssueCollector) -> ResourcesSpec:
    reader = Reader(data, "resources", issues)
    reader.unknown_keys(keys_of(ResourcesSpec))
    rule = declared(ResourcesSpec, "gpus_per_trial")
    gpus = reader.number("gpus_per_trial", ResourcesSpec().gpus_per_trial, minimum=rule.minimum)
    if 0 < gpus < RAY_GRANULARITY:
        issues.add(
            reader.at("gpus_per_trial"),
            f"is below Ray's smallest resource unit {RAY_GRANULARITY}",
            gpus,
            f"0 (CPU trials) or a number from {RAY_GRANULARITY} to 1",
        )
        gpus = 1.0
    elif gpus > 1 and (gpus != int(gpus) or (rule.maximum is not None and gpus > rule.maximum)):
        issues.add(
            reader.at("gpus_per_trial"),
            "a trial spans whole GPUs of one node",
            gpus,
            f"0, a fraction from {RAY_GRANULARITY} to 1, or an integer from 2 to "
            f"{rule.maximum:g} (data-parallel processes)",
        )
        gpus = 1.0
    read = read_fields(reader, ResourcesSpec, ("cpus_per_trial", "memory_gb", "distributed"))
    return ResourcesSpec(
        gpus_per_trial=float(gpus),
        cpus_per_trial=float(read["cpus_per_trial"]),
        memory_gb=read["memory_gb"],
        distributed=read["distributed"],
    )


def _batch(data: Any, issues: IssueCollector) -> BatchSpec:
    reader = Reader(data, "batch", issues)
    reader.unknown_keys(keys_of(BatchSpec))
    return BatchSpec(**read_fields(reader, BatchSpec, keys_of(BatchSpec)))


def _retries(data: Any, issues: IssueCollector) -> RetrySpec:
    reader = Reader(data, "retries", issues)
    reader.unknown_keys(keys_of(RetrySpec))
    read = read_fields(reader, RetrySpec, keys_of(RetrySpec))
    interval, grace = read["heartbeat_interval"], read["grace_period"]
    if grace < 2 * interval:
        issues.add(
            reader.at("grace_period"),
            "must allow at least two missed heartbeats",
            grace,
            f">= 2 x heartbeat_interval = {2 * interval}",
        )
    return RetrySpec(read["max_retries"], float(interval), float(grace))
