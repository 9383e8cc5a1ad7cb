"""Load a YAML space into a validated :class:`SearchSpace`, reporting every problem at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hpsearch.spaces._check import Reader
from hpsearch.spaces._errors import IssueCollector, SpaceError, SpaceIssue, join_path
from hpsearch.spaces._knobs import KNOBS
from hpsearch.spaces._param_loader import load_params
from hpsearch.spaces._params import FloatParam, Param
from hpsearch.spaces._spec import (
    METHODS,
    PRUNER_TYPES,
    SAMPLER_TYPES,
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

TOP_LEVEL_KEYS = (
    "name",
    "description",
    "method",
    "objective",
    "trials",
    "sampler",
    "pruner",
    "early_stopping",
    "resources",
    "batch",
    "retries",
    "params",
    "warm_start",
    "task",
)
_SCALAR_OPTION = (bool, int, float, str, type(None))


class _SpaceYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-5`` as a float (YAML 1.2), as users write it."""


_SpaceYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def safe_load_yaml(text: str) -> Any:
    """Parse YAML safely (no object construction), with YAML 1.2 exponent floats."""
    return yaml.load(text, Loader=_SpaceYamlLoader)


def load_space_file(path: str | Path) -> SearchSpace:
    """Read and validate a YAML space file (through ``yaml.safe_load``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpaceError([_issue("", "file not found", str(path))], str(path)) from None
    except OSError as exc:
        raise SpaceError(
            [_issue("", f"cannot read file: {exc.strerror}", str(path))], str(path)
        ) from None
    return load_space_text(text, source=str(path), default_name=path.stem)


def load_space_text(text: str, source: str = "space", default_name: str = "custom") -> SearchSpace:
    try:
        data = safe_load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpaceError([_issue("", f"invalid YAML at {where}: {problem}")], source) from None
    return load_space_dict(data, source=source, default_name=default_name)


def load_space_dict(data: Any, source: str = "space", default_name: str = "custom") -> SearchSpace:
    issues = IssueCollector()
    root = Reader(data, "", issues)
    root.unknown_keys(TOP_LEVEL_KEYS)
    name = root.string("name", default_name)
    params = load_params(root.raw("params"), issues)
    space = SearchSpace(
        name=name,
        description=root.string("description", "") or "",
        method=root.choice("method", METHODS, "lora"),
        objective=_objective(root.raw("objective"), issues),
        trials=root.integer("trials", 20, minimum=1),
        sampler=SamplerSpec(*_plugin(root.raw("sampler"), "sampler", SAMPLER_TYPES, "tpe", issues)),
        pruner=PrunerSpec(
            *_plugin(root.raw("pruner"), "pruner", PRUNER_TYPES, "hyperband", issues)
        ),
        early_stopping=_early_stopping(root.raw("early_stopping"), issues),
        resources=_resources(root.raw("resources"), issues),
        batch=_batch(root.raw("batch"), issues),
        retries=_retries(root.raw("retries"), issues),
        params=params,
        warm_start=_warm_start(root.raw("warm_start"), params, issues),
        task=dict(root.raw("task") or {}) if isinstance(root.raw("task"), Mapping) else {},
    )
    if root.has("task"):
        load_task(root.raw("task"), issues)  # validate now; CLI flags are merged later
    _cross_checks(space, issues)
    issues.raise_if_any(source)
    return space


def _issue(path: str, message: str, value: Any = None) -> SpaceIssue:
    return SpaceIssue(path, message, value) if value is not None else SpaceIssue(path, message)


def _objective(data: Any, issues: IssueCollector) -> ObjectiveSpec:
    reader = Reader(data, "objective", issues)
    reader.unknown_keys(("metric", "direction"))
    metric = reader.string("metric", "eval_loss")
    if not str(metric).startswith("eval_"):
        issues.add(
            reader.at("metric"),
            "the objective must be an evaluation metric",
            metric,
            "a name starting with eval_ (eval_loss, eval_accuracy, eval_perplexity)",
        )
    direction = reader.choice("direction", ("minimize", "maximize"), "minimize")
    return ObjectiveSpec(metric=metric, direction=direction)


def _plugin(
    data: Any, section: str, types: tuple[str, ...], default: str, issues: IssueCollector
) -> tuple[str, dict[str, Any]]:
    if isinstance(data, str):
        data = {"type": data}
    reader = Reader(data, section, issues)
    kind = reader.choice("type", types, default)
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
    reader.unknown_keys(("patience", "threshold"))
    return EarlyStoppingSpec(
        patience=reader.integer("patience", 3, minimum=1, optional=True),
        threshold=reader.number("threshold", 0.0, minimum=0),
    )


def _resources(data: Any, issues: IssueCollector) -> ResourcesSpec:
    reader = Reader(data, "resources", issues)
    reader.unknown_keys(("gpus_per_trial", "cpus_per_trial", "memory_gb"))
    gpus = reader.number("gpus_per_trial", 1.0, minimum=0)
    if gpus > 1:
        issues.add(
            reader.at("gpus_per_trial"),
            "data-parallel trials over several GPUs are not supported yet",
            gpus,
            "a number between 0 and 1 (fractions pack several trials on one GPU)",
        )
        gpus = 1.0
    return ResourcesSpec(
        gpus_per_trial=float(gpus),
        cpus_per_trial=float(reader.number("cpus_per_trial", 1.0, exclusive_minimum=0)),
        memory_gb=reader.number("memory_gb", None, exclusive_minimum=0, optional=True),
    )


def _batch(data: Any, issues: IssueCollector) -> BatchSpec:
    reader = Reader(data, "batch", issues)
    reader.unknown_keys(("lr_scaling", "reference_batch_size"))
    return BatchSpec(
        lr_scaling=reader.choice("lr_scaling", ("none", "linear", "sqrt"), "none"),
        reference_batch_size=reader.integer("reference_batch_size", 16, minimum=1),
    )


def _retries(data: Any, issues: IssueCollector) -> RetrySpec:
    reader = Reader(data, "retries", issues)
    reader.unknown_keys(("max_retries", "heartbeat_interval", "grace_period"))
    interval = reader.number("heartbeat_interval", 10.0, exclusive_minimum=0)
    grace = reader.number("grace_period", 60.0, exclusive_minimum=0)
    if grace < 2 * interval:
        issues.add(
            reader.at("grace_period"),
            "must allow at least two missed heartbeats",
            grace,
            f">= 2 x heartbeat_interval = {2 * interval}",
        )
    return RetrySpec(reader.integer("max_retries", 2, minimum=0), float(interval), float(grace))


def _warm_start(
    data: Any, params: tuple[Param, ...], issues: IssueCollector
) -> tuple[dict[str, Any], ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        issues.add("warm_start", "must be a list of parameter mappings", data)
        return ()
    by_name = {p.name: p for p in params}
    out = []
    for i, entry in enumerate(data):
        path = join_path("warm_start", i)
        if not isinstance(entry, Mapping):
            issues.add(path, "must be a mapping of parameter name to value", entry)
            continue
        for key, value in entry.items():
            param = by_name.get(key)
            if param is None:
                issues.add(
                    join_path(path, str(key)),
                    "not a parameter of this space",
                    key,
                    ", ".join(by_name),
                )
            elif not param.contains(value):
                issues.add(
                    join_path(path, str(key)),
                    "value is outside the parameter's range",
                    value,
                    _describe(param),
                )
        out.append(dict(entry))
    return tuple(out)


def _describe(param: Param) -> str:
    values = param.values()
    if param.kind in ("categorical", "fixed") and values is not None:
        return ", ".join(map(repr, values))
    return f"{param.low} .. {param.high}"


def _cross_checks(space: SearchSpace, issues: IssueCollector) -> None:
    names = set(space.param_names)
    if space.method == "full":
        for name in sorted(n for n in names if KNOBS.get(n) and KNOBS[n].target == "lora"):
            issues.add(
                join_path("params", name),
                "LoRA knobs need method lora or qlora",
                space.method,
                "method: lora or qlora, or drop this parameter",
            )
    if "quant_compute_dtype" in names and space.method != "qlora":
        issues.add(
            "params.quant_compute_dtype",
            "only QLoRA quantises the model",
            space.method,
            "method: qlora",
        )
    if space.batch.lr_scaling != "none" and "learning_rate" not in names:
        issues.add(
            "batch.lr_scaling",
            "scaling needs a learning_rate parameter to scale",
            space.batch.lr_scaling,
        )
    _check_batch_rule(space, issues)
    if space.sampler.type == "grid":
        _check_grid(space, issues)
    if (
        space.pruner.type != "none"
        and space.objective.metric == "eval_loss"
        and (space.objective.direction != "minimize")
    ):
        issues.add("objective.direction", "eval_loss must be minimised", "maximize", "minimize")


def _check_batch_rule(space: SearchSpace, issues: IssueCollector) -> None:
    """effective = per_device x accumulation x devices must hold for every combination."""
    effective = space.param("effective_batch_size")
    per_device = space.param("per_device_train_batch_size")
    if effective is None:
        return
    if space.param("gradient_accumulation_steps") is not None:
        issues.add(
            "params.gradient_accumulation_steps",
            "is derived from effective_batch_size; set one of the two",
            None,
            "drop gradient_accumulation_steps or effective_batch_size",
        )
    if per_device is None:
        issues.add(
            "params.per_device_train_batch_size", "is required when effective_batch_size is set"
        )
        return
    targets, sizes = effective.values(), per_device.values()
    if targets is None or sizes is None:
        issues.add(
            "params.per_device_train_batch_size",
            "must take a finite set of values",
            per_device.kind,
            "categorical, fixed, or int with a step",
        )
        return
    devices = space.resources.devices
    for target in targets:
        if not isinstance(target, int):
            continue
        bad = [s for s in sizes if isinstance(s, int) and target % (s * devices) != 0]
        if bad:
            divisors = [d for d in range(1, target + 1) if target % (d * devices) == 0]
            issues.add(
                "params.per_device_train_batch_size",
                f"cannot reach effective_batch_size {target} on {devices} device(s) "
                f"(effective = per-device x accumulation x devices)",
                bad,
                "per-device sizes dividing the target: " + ", ".join(map(str, divisors)),
            )


def _check_grid(space: SearchSpace, issues: IssueCollector) -> None:
    for param in space.params:
        path = join_path("params", param.name)
        if param.when:
            issues.add(
                path,
                "the grid sampler cannot handle conditional parameters",
                allowed="drop 'when' or use sampler: tpe",
            )
        values = param.values()
        if values is None or (isinstance(param, FloatParam) and param.step is None):
            issues.add(
                path,
                "the grid sampler needs a finite set of values",
                param.kind,
                "categorical, fixed, or a range with a step",
            )
        elif len(values) > 10_000:
            issues.add(path, "too many grid points", len(values), "at most 10000")
