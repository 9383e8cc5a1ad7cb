"""Checks that span several sections of a space: method and knobs, batch rule, grid."""

from __future__ import annotations

from hpsearch.spaces._errors import IssueCollector, join_path
from hpsearch.spaces._knobs import KNOBS
from hpsearch.spaces._params import MAX_POINTS, FloatParam, IntParam
from hpsearch.spaces._plugins import METHODS, SAMPLERS
from hpsearch.spaces._spec import SearchSpace


def cross_checks(space: SearchSpace, issues: IssueCollector) -> None:
    names = set(space.param_names)
    method = METHODS.get(space.method)
    if not method.adapter:
        adapters = " or ".join(m.name for m in METHODS if m.adapter)
        for name in sorted(n for n in names if KNOBS.get(n) and KNOBS[n].target == "lora"):
            issues.add(
                join_path("params", name),
                f"LoRA knobs need method {adapters}",
                space.method,
                f"method: {adapters}, or drop this parameter",
            )
    if "quant_compute_dtype" in names and not method.quantized:
        quantized = " or ".join(m.name for m in METHODS if m.quantized)
        issues.add(
            "params.quant_compute_dtype",
            "only QLoRA quantises the model",
            space.method,
            f"method: {quantized}",
        )
    if space.batch.lr_scaling != "none" and "learning_rate" not in names:
        issues.add(
            "batch.lr_scaling",
            "scaling needs a learning_rate parameter to scale",
            space.batch.lr_scaling,
        )
    _check_batch_rule(space, issues)
    if SAMPLERS.get(space.sampler.type).needs_grid_space:
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
        if isinstance(param, (FloatParam, IntParam)):
            count = param.count()
        else:
            count = len(param.values() or ())
        if isinstance(param, FloatParam) and count is None:
            issues.add(
                path,
                "the grid sampler needs a finite set of values",
                param.kind,
                "categorical, fixed, or a range with a step",
            )
        elif count is not None and count > MAX_POINTS:
            issues.add(path, "too many grid points", count, f"at most {MAX_POINTS}")
