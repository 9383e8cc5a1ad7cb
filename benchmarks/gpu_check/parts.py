"""The check's parts: each runs its trials and returns a part record (see report.py).

A part that cannot run says "not run" and why; one whose trial failed says "failed" and how;
on a CPU (the dry run) a part that ran reports only what a CPU measures (no GPU memory, no
busy fraction) under status "ran".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.gpu_check import trials
from benchmarks.gpu_check.baseline import run_standalone
from benchmarks.gpu_check.fixtures import Sizes
from benchmarks.gpu_check.packed import GPU_FRACTION, PACKED_TRIALS, packed_specs, run_packed
from benchmarks.gpu_check.report import flash_attn_reason, part

__all__ = [
    "OOM_FAILPOINT",
    "Context",
    "full",
    "lora",
    "lora_flash",
    "oom_retry",
    "packed",
    "qlora",
    "standalone",
    "trial_part",
]

OOM_FAILPOINT = "train.step=oom@step=1,trial=oom"  # the dry run's stand-in for a real OOM


@dataclass
class Context:
    """What every part shares: the model, data, study, scratch folder and memory baseline."""

    sizes: Sizes
    model_dir: Path
    data_dir: Path
    work: Path
    db: Path
    study: Any
    cuda: bool
    precision: str  # bf16 on a GPU, auto (fp32) on a CPU
    baseline_mib: float | None = None
    gpu_total_gb: float | None = None

    @property
    def status(self) -> str:
        return "measured" if self.cuda else "ran"

    def config(self, name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("precision", self.precision)
        return trials.trial_config(
            name, self.model_dir, self.data_dir, self.work, self.sizes, **kwargs
        )


def _held(ctx: Context, result: dict[str, Any]) -> float | None:
    allocated = result.get("allocated_after_mib")
    if allocated is None or ctx.baseline_mib is None:
        return None
    return round(allocated - ctx.baseline_mib, 1)


def _trial_figures(ctx: Context, result: dict[str, Any]) -> dict[str, float]:
    """The numbers a trial measured on this device (GPU memory only on a GPU)."""
    keys = ["tokens_per_s", "train_time_s", "value"]
    if ctx.cuda:
        keys += ["peak_memory_mb", "peak_reserved_mb", "memory_estimate_gb"]
    figures = {k: result[k] for k in keys if trials.is_number(result.get(k))}
    held = _held(ctx, result)
    if held is not None:
        figures["held_after_trial_mib"] = held
    return figures


def trial_part(ctx: Context, name: str, config: Any) -> dict[str, Any]:
    """Run one trial; a trial hpsearch refuses for want of hardware is "not run"."""
    result = trials.run_trial(ctx.study, config)
    details = {k: v for k, v in result.items() if not trials.is_number(v) or k == "trial"}
    if result["state"] == "FAIL":
        if result.get("kind") == "unsupported_hardware":
            return part(name, "not run", reason=f"hpsearch refused it: {result['error']}")
        return part(name, "failed", reason=f"{result['kind']}: {result['error']}", details=details)
    details["method"] = config.model.method
    details["optim"] = config.hparams.training_args.get("optim")
    details["attn"] = config.model.attn_implementation
    return part(name, ctx.status, figures=_trial_figures(ctx, result), details=details)


def lora(ctx: Context) -> dict[str, Any]:
    return trial_part(ctx, "lora_sdpa", ctx.config("lora", method="lora"))


def lora_flash(ctx: Context) -> dict[str, Any]:
    why = flash_attn_reason()
    if why is not None:
        return part("lora_flash_attention", "not run", reason=why)
    config = ctx.config("lora-flash", method="lora", attn="flash_attention_2")
    return trial_part(ctx, "lora_flash_attention", config)


def qlora(ctx: Context) -> dict[str, Any]:
    config = ctx.config("qlora", method="qlora", optim="paged_adamw_8bit")
    return trial_part(ctx, "qlora_nf4_paged_adamw_8bit", config)


def full(ctx: Context) -> dict[str, Any]:
    config = ctx.config("full", method="full", optim="adamw_bnb_8bit")
    return trial_part(ctx, "full_adamw_8bit", config)


def standalone(ctx: Context) -> dict[str, Any]:
    """The LoRA trial's configuration as a plain Trainer run."""
    config = ctx.config("lora", method="lora")
    result = run_standalone(config, ctx.work / "standalone")
    figures = {k: result[k] for k in ("tokens_per_s", "train_wall_s") if k in result}
    if ctx.cuda and "peak_memory_mb" in result:
        figures["peak_memory_mb"] = result["peak_memory_mb"]
    return part("standalone_trainer", ctx.status, figures=figures, details=result)


def oom_retry(ctx: Context) -> dict[str, Any]:
    """A batch chosen to overflow the GPU, then the engine's halved retry in this process."""
    name = "oom_retry"
    config = ctx.config("oom", method="lora", steps=2)
    details: dict[str, Any] = {}
    if ctx.cuda:
        assert ctx.gpu_total_gb is not None
        batch, estimate, half = trials.oom_batch(config, ctx.model_dir, ctx.gpu_total_gb)
        details.update(batch=batch, estimate_gb=estimate, half_batch_estimate_gb=half)
        # the estimate would refuse it before it starts: let it through to a real CUDA OOM
        config = replace(
            config,
            hparams=replace(config.hparams, per_device_train_batch_size=batch),
            memory_limit_gb=10 * ctx.gpu_total_gb,
        )
        out = trials.run_with_oom_retry(ctx.study, config, ctx.baseline_mib)
    else:
        os.environ["HPSEARCH_FAILPOINTS"] = OOM_FAILPOINT
        try:
            out = trials.run_with_oom_retry(ctx.study, config, ctx.baseline_mib)
        finally:
            del os.environ["HPSEARCH_FAILPOINTS"]
        details["note"] = "no CUDA: the OOM is hpsearch's failpoint, not a real CUDA OOM"
    details.update(out)
    first, retry = out["first"], out.get("retry")
    if first.get("kind") != "oom":
        why = f"the first attempt did not run out of memory: {first.get('state')}"
        if first.get("error"):
            why += f" ({first['kind']}: {first['error']})"
        return part(name, "failed", reason=why, details=details)
    if retry is None or retry["state"] != "COMPLETE":
        why = "no retry (odd batch)" if retry is None else f"retry {retry['state']}"
        why += f": {retry.get('error')}" if retry and retry.get("error") else ""
        return part(name, "failed", reason=why, details=details)
    figures: dict[str, float] = {
        "oom_batch": config.hparams.per_device_train_batch_size,
        "retry_batch": config.hparams.per_device_train_batch_size // 2,
    }
    for key in ("held_after_oom_mib", "held_after_retry_mib"):
        if trials.is_number(out.get(key)):
            figures[key] = out[key]
    if ctx.cuda and trials.is_number(retry.get("peak_memory_mb")):
        figures["retry_peak_memory_mb"] = retry["peak_memory_mb"]
    reason = None if ctx.cuda else details["note"]
    return part(name, ctx.status, reason=reason, figures=figures, details=details)


def packed(ctx: Context, timeout_s: float, count: int = PACKED_TRIALS) -> dict[str, Any]:
    """Four LoRA trials at gpu_fraction 0.25, one process each, on the one GPU."""
    name = "packed_4x0.25"
    specs = packed_specs(
        ctx.sizes, ctx.model_dir, ctx.data_dir, ctx.work / "packed", ctx.db, ctx.precision
    )[:count]
    out = run_packed(specs, ctx.work / "packed", timeout_s)
    states = [t.get("state") for t in out["trials"]]
    details = {**out, "gpu_fraction": GPU_FRACTION}
    if out["timed_out"] or any(s != "COMPLETE" for s in states):
        errors = "; ".join(str(t.get("error", ""))[-300:] for t in out["trials"] if t.get("error"))
        why = f"trial states {states}" + (" (timed out)" if out["timed_out"] else "")
        return part(name, "failed", reason=f"{why}: {errors}" if errors else why, details=details)
    rates = [t["tokens_per_s"] for t in out["trials"] if trials.is_number(t.get("tokens_per_s"))]
    figures: dict[str, float] = {"trials": len(states)}
    if rates:
        figures["tokens_per_s_sum"] = round(sum(rates), 1)
    if trials.is_number(out.get("overlap_s")):
        figures["overlap_s"] = out["overlap_s"]
    reason = None
    if ctx.cuda and trials.is_number(out.get("busy_fraction")):
        figures["busy_fraction"] = out["busy_fraction"]
    elif ctx.cuda:
        reason = f"busy fraction not sampled (sampler: {out['sampler']}, no samples in overlap)"
    else:
        reason = "no CUDA: busy fraction not sampled"
    return part(name, ctx.status, reason=reason, figures=figures, details=details)
