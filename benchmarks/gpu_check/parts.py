"""The check's parts: each runs its trials and returns a part record (see report.py).

Every hpsearch trial runs as a study through ``hpsearch.search.run(..., pool="inprocess")``
(``studies.py``); the figures come from the study's user attributes. A part that cannot run
says "not run" and why; one whose trial failed says "failed" and how; on a CPU (the dry run) a
part that ran reports only what a CPU measures (no GPU memory, no busy fraction) under status
"ran".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.gpu_check import trials
from benchmarks.gpu_check.baseline import run_standalone
from benchmarks.gpu_check.fixtures import Sizes
from benchmarks.gpu_check.packed import GPU_FRACTION, PACKED_TRIALS, packed_specs, run_packed
from benchmarks.gpu_check.report import flash_attn_reason, part
from benchmarks.gpu_check.studies import MemoryWatch, StudySpec, run_study, trial_summary
from hpsearch.search.records import attributes as A

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

OOM_FAILPOINT = "train.step=oom@step=1,trial=0"  # the dry run's stand-in: the study's trial 0


@dataclass
class Context:
    """What every part shares: the model, data, storage, scratch folder and memory baseline."""

    sizes: Sizes
    model_dir: Path
    data_dir: Path
    work: Path
    db: Path
    cuda: bool
    precision: str  # bf16 on a GPU, auto (fp32) on a CPU
    baseline_mib: float | None = None
    gpu_total_gb: float | None = None

    @property
    def status(self) -> str:
        return "measured" if self.cuda else "ran"

    @property
    def storage(self) -> str:
        return f"sqlite:///{self.db}"

    def spec(self, name: str, **kwargs: Any) -> StudySpec:
        kwargs.setdefault("precision", self.precision)
        kwargs.setdefault("gpus_per_trial", 1.0 if self.cuda else 0.0)
        return StudySpec(name, **kwargs)

    def run(self, spec: StudySpec) -> tuple[list[dict[str, Any]], MemoryWatch]:
        """Run ``spec`` as its own study; each trial's summary, with what it left allocated."""
        watch = MemoryWatch()
        study = run_study(
            spec, self.sizes, self.model_dir, self.data_dir, self.work, self.storage, emit=watch
        )
        out = []
        for trial in study.get_trials(deepcopy=False):
            summary = trial_summary(trial)
            allocated = watch.allocated_after.get(trial.number)
            if allocated is not None:
                summary["allocated_after_mib"] = allocated
                summary["peak_reserved_mb"] = watch.reserved_peak.get(trial.number)
            if self.baseline_mib is not None and allocated is not None:
                summary["held_after_trial_mib"] = round(allocated - self.baseline_mib, 1)
            out.append(summary)
        return out, watch


def _trial_figures(ctx: Context, result: dict[str, Any]) -> dict[str, float]:
    """The numbers a trial measured on this device (GPU memory only on a GPU)."""
    keys = ["tokens_per_s", "train_time_s", "value"]
    if ctx.cuda:
        keys += ["peak_memory_mb", "peak_reserved_mb", "memory_estimate_gb", "held_after_trial_mib"]
    return {k: result[k] for k in keys if trials.is_number(result.get(k))}


def trial_part(ctx: Context, name: str, spec: StudySpec) -> dict[str, Any]:
    """Run one configuration as a study; a trial hpsearch refuses for want of hardware is
    "not run"."""
    results, _ = ctx.run(spec)
    result = results[-1]
    details: dict[str, Any] = {
        k: v for k, v in result.items() if not trials.is_number(v) or k == "trial"
    }
    details.update(study=spec.name, trials=len(results))
    if result["state"] != "COMPLETE":
        reason = str(result.get("fail_reason") or result["state"])
        if reason.startswith("unsupported_hardware"):
            return part(name, "not run", reason=f"hpsearch refused it: {reason}")
        return part(name, "failed", reason=reason, details=details)
    details.update(method=spec.method, optim=spec.optim, attn=spec.attn)
    return part(name, ctx.status, figures=_trial_figures(ctx, result), details=details)


def lora(ctx: Context) -> dict[str, Any]:
    return trial_part(ctx, "lora_sdpa", ctx.spec("lora", method="lora"))


def lora_flash(ctx: Context) -> dict[str, Any]:
    why = flash_attn_reason()
    if why is not None:
        return part("lora_flash_attention", "not run", reason=why)
    spec = ctx.spec("lora_flash", method="lora", attn="flash_attention_2")
    return trial_part(ctx, "lora_flash_attention", spec)


def qlora(ctx: Context) -> dict[str, Any]:
    spec = ctx.spec("qlora", method="qlora", optim="paged_adamw_8bit")
    return trial_part(ctx, "qlora_nf4_paged_adamw_8bit", spec)


def full(ctx: Context) -> dict[str, Any]:
    spec = ctx.spec("full", method="full", optim="adamw_bnb_8bit")
    return trial_part(ctx, "full_adamw_8bit", spec)


def standalone(ctx: Context) -> dict[str, Any]:
    """The LoRA trial's configuration as a plain Trainer run (not through hpsearch)."""
    config = trials.trial_config(
        "lora",
        ctx.model_dir,
        ctx.data_dir,
        ctx.work,
        ctx.sizes,
        method="lora",
        precision=ctx.precision,
    )
    result = run_standalone(config, ctx.work / "standalone")
    figures = {k: result[k] for k in ("tokens_per_s", "train_wall_s") if k in result}
    if ctx.cuda and "peak_memory_mb" in result:
        figures["peak_memory_mb"] = result["peak_memory_mb"]
    return part("standalone_trainer", ctx.status, figures=figures, details=result)


def oom_retry(ctx: Context) -> dict[str, Any]:
    """A batch chosen to overflow the GPU, as a study: the worker FAILs the trial, the
    driver's retry (half the per-device batch, twice the accumulation) runs in this process."""
    name = "oom_retry"
    details: dict[str, Any] = {}
    if ctx.cuda:
        if ctx.gpu_total_gb is None:
            raise RuntimeError("the GPU's total memory was not read at setup")
        config = trials.trial_config(
            "oom",
            ctx.model_dir,
            ctx.data_dir,
            ctx.work,
            ctx.sizes,
            method="lora",
            precision=ctx.precision,
            steps=2,
        )
        batch, estimate, half = trials.oom_batch(config, ctx.model_dir, ctx.gpu_total_gb)
        details.update(batch=batch, estimate_gb=estimate, half_batch_estimate_gb=half)
        # the estimate would refuse it before it starts: let it through to a real CUDA OOM
        spec = ctx.spec(
            "oom", method="lora", steps=2, batch=batch, memory_gb=round(10 * ctx.gpu_total_gb, 1)
        )
        results, watch = ctx.run(spec)
    else:
        batch = ctx.sizes.batch
        os.environ["HPSEARCH_FAILPOINTS"] = OOM_FAILPOINT
        try:
            results, watch = ctx.run(ctx.spec("oom", method="lora", steps=2))
        finally:
            del os.environ["HPSEARCH_FAILPOINTS"]
        details["note"] = "no CUDA: the OOM is hpsearch's failpoint, not a real CUDA OOM"
    details.update(study="oom", trials=results, driver_log=watch.lines[-20:])
    first = results[0]
    retry = next((r for r in results if r.get("retry_of") == first["trial"]), None)
    if first["state"] != "FAIL" or first.get(A.RETRY_REQUESTED) != A.RETRY_OOM:
        why = f"the first attempt did not run out of memory: {first['state']}"
        if first.get("fail_reason"):
            why += f" ({first['fail_reason']})"
        return part(name, "failed", reason=why, details=details)
    if retry is None or retry["state"] != "COMPLETE":
        why = "the driver made no retry" if retry is None else f"retry {retry['state']}"
        why += f": {retry.get('fail_reason')}" if retry and retry.get("fail_reason") else ""
        return part(name, "failed", reason=why, details=details)
    figures: dict[str, float] = {
        "oom_batch": batch,
        "retry_batch": retry["per_device_batch"],
        "retry_grad_accum": retry["grad_accum"],
    }
    for key, trial in (("held_after_oom_mib", first), ("held_after_retry_mib", retry)):
        if trials.is_number(trial.get("held_after_trial_mib")):
            figures[key] = trial["held_after_trial_mib"]
    if ctx.cuda and trials.is_number(retry.get("peak_memory_mb")):
        figures["retry_peak_memory_mb"] = retry["peak_memory_mb"]
    reason = None if ctx.cuda else details["note"]
    return part(name, ctx.status, reason=reason, figures=figures, details=details)


def packed(ctx: Context, timeout_s: float, count: int = PACKED_TRIALS) -> dict[str, Any]:
    """Four LoRA trials at gpus_per_trial 0.25, one driver process each, on one study."""
    name = "packed_4x0.25"
    specs = packed_specs(
        ctx.sizes,
        ctx.model_dir,
        ctx.data_dir,
        ctx.work / "packed",
        ctx.db,
        ctx.precision,
        cuda=ctx.cuda,
        count=count,
    )
    out = run_packed(specs, ctx.work / "packed", timeout_s)
    states = [t.get("state") for t in out["trials"]]
    details = {**out, "gpu_fraction": GPU_FRACTION}
    if out["timed_out"] or len(states) != count or any(s != "COMPLETE" for s in states):
        errors = "; ".join(str(t.get("error", ""))[-300:] for t in out["trials"] if t.get("error"))
        why = f"trial states {states}" + (" (timed out)" if out["timed_out"] else "")
        return part(name, "failed", reason=f"{why}: {errors}" if errors else why, details=details)
    rates = [t["tokens_per_s"] for t in out["trials"] if trials.is_number(t.get("tokens_per_s"))]
    figures: dict[str, float] = {
        "trials": len(states),
        "drivers_with_a_trial": sum(1 for n in out["drivers"].values() if n),
    }
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
