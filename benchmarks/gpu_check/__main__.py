"""``python -m benchmarks.gpu_check --out DIR [--dry-run]``: run the GPU check, write its record.

Writes ``DIR/gpu_check.json`` and ``DIR/gpu_check.md``. Parts run in a fixed order within a
time budget (``--budget-s``, 450 s by default: the check must end within 8 minutes on an
H100/H200); a part the budget leaves no time for says "not run" and why. Scratch files
(model, data, checkpoints, the SQLite study) go to ``--work`` (a temporary folder by default),
never to DIR.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.gpu_check import parts, report, trials
from benchmarks.gpu_check.fixtures import QWEN3_06B, TINY, build_model, write_data

__all__ = ["main"]

# Seconds each part needs at most on an H200 (what the budget checks before starting it).
NEEDS_S = {
    "lora_sdpa": 45,
    "standalone_trainer": 45,
    "lora_flash_attention": 45,
    "qlora_nf4_paged_adamw_8bit": 60,
    "full_adamw_8bit": 60,
    "oom_retry": 45,
    "packed_4x0.25": 120,
}
HELD_TOLERANCE_MIB = 64.0


def _setup(args: argparse.Namespace, work: Path) -> tuple[parts.Context, dict[str, Any]]:
    import torch

    cuda = torch.cuda.is_available() and not args.dry_run
    sizes = QWEN3_06B if cuda else TINY
    started = time.perf_counter()
    model = build_model(work / "model", sizes, cuda=cuda)
    data = write_data(work / "data", sizes, train_records=sizes.steps * sizes.batch)
    db = work / "study.db"
    db.unlink(missing_ok=True)  # a reused --work: fresh studies, never an old run's trials
    ctx = parts.Context(
        sizes=sizes,
        model_dir=work / "model",
        data_dir=data,
        work=work / "trials",
        db=db,
        cuda=cuda,
        precision="bf16" if cuda else "auto",
    )
    if cuda:
        ctx.gpu_total_gb = torch.cuda.get_device_properties(0).total_memory / 2**30
        _warm_up(ctx)  # CUDA libraries' first-use costs would otherwise fall on the first trial
        ctx.baseline_mib = trials.collect()
    figures = {
        "parameters": float(model["parameters"]),
        "setup_s": round(time.perf_counter() - started, 2),
    }
    details = {
        "sizes": sizes.__dict__,
        "weights_dtype": model["dtype"],
        "storage": f"sqlite:///{db}",
    }
    return ctx, report.part("setup", ctx.status, figures=figures, details=details)


def _warm_up(ctx: parts.Context) -> None:
    """One untimed forward and backward pass of the model on one batch."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(ctx.model_dir), dtype=torch.bfloat16)
    model = model.to("cuda")
    ids = torch.randint(0, 256, (ctx.sizes.batch, ctx.sizes.seq_len), device="cuda")
    model(input_ids=ids, labels=ids).loss.backward()
    torch.cuda.synchronize()
    del model, ids


def _run_parts(
    ctx: parts.Context,
    deadline: float,
    packed_trials: int,
    out: list[dict[str, Any]],
    save: Callable[[list[dict[str, Any]]], None],
) -> list[dict[str, Any]]:
    """Run the parts in order after ``out`` (setup), saving the record after each."""
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("lora_sdpa", lambda: parts.lora(ctx)),
        ("standalone_trainer", lambda: parts.standalone(ctx)),
        ("lora_flash_attention", lambda: parts.lora_flash(ctx)),
        ("qlora_nf4_paged_adamw_8bit", lambda: parts.qlora(ctx)),
        ("full_adamw_8bit", lambda: parts.full(ctx)),
        ("oom_retry", lambda: parts.oom_retry(ctx)),
        (
            "packed_4x0.25",
            lambda: parts.packed(ctx, max(30.0, deadline - time.time() - 10), packed_trials),
        ),
    ]
    out = list(out)
    save(out)
    for name, step in steps:
        left = deadline - time.time()
        if ctx.cuda and left < NEEDS_S[name]:
            reason = f"time budget: {left:.0f} s left, the part needs up to {NEEDS_S[name]} s"
            out.append(report.part(name, "not run", reason=reason))
            save(out)
            continue
        started = time.perf_counter()
        try:
            record = step()
        except Exception as exc:  # one broken part must not lose the others' figures
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            record = report.part(name, "failed", reason=f"crashed: {detail}")
            record["details"]["traceback"] = traceback.format_exc()[-4000:]
        record["wall_s"] = round(time.perf_counter() - started, 2)
        if ctx.cuda:  # the next part starts from a clean GPU whatever this one left behind
            record["details"]["allocated_after_gc_mib"] = trials.collect()
        out.append(record)
        save(out)
        note = record["reason"] or ""
        print(f"{name}: {record['status']} {record['figures']} {note}", flush=True)
    return out


def _goals(ctx: parts.Context, done: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {p["name"]: p for p in done}
    no_gpu = None if ctx.cuda else "no CUDA"
    goals = []

    def figure(name: str, key: str) -> float | None:
        p = by.get(name)
        if p is None or p["status"] != "measured":
            return None
        value = p["figures"].get(key)
        return value if trials.is_number(value) else None

    def why(*names: str) -> str:
        if no_gpu:
            return no_gpu
        return "; ".join(f"{n} {by[n]['status']}" for n in names if n in by) or "not measured"

    def add(label: str, target: str, measured: float | None, passed: bool, missing: str) -> None:
        if measured is None:
            goals.append(report.goal(label, target, None, None, missing))
        else:
            goals.append(report.goal(label, target, measured, passed))

    hps, plain = figure("lora_sdpa", "tokens_per_s"), figure("standalone_trainer", "tokens_per_s")
    ratio = round(hps / plain, 3) if hps is not None and plain else None
    add(
        "LoRA tokens/s vs standalone Trainer",
        ">= 0.95",
        ratio,
        ratio is not None and ratio >= 0.95,
        why("lora_sdpa", "standalone_trainer"),
    )
    for name in ("lora_sdpa", "qlora_nf4_paged_adamw_8bit", "full_adamw_8bit"):
        peak, estimate = figure(name, "peak_memory_mb"), figure(name, "memory_estimate_gb")
        # the estimate adds a CUDA context that the allocator's peak does not see
        ratio = round(peak / 1024 / (estimate - 0.5), 3) if peak is not None and estimate else None
        passed = ratio is not None and 0.8 <= ratio <= 1.2
        add(f"peak memory vs estimate: {name}", "0.8 to 1.2", ratio, passed, why(name))
    busy = figure("packed_4x0.25", "busy_fraction")
    passed = busy is not None and busy >= 0.9
    add("GPU busy fraction, 4 trials at 0.25", ">= 0.90", busy, passed, why("packed_4x0.25"))
    held = [figure("oom_retry", k) for k in ("held_after_oom_mib", "held_after_retry_mib")]
    worst = max(h for h in held if h is not None) if all(h is not None for h in held) else None
    add(
        "OOM retried with half the batch, memory released",
        f"retry completes, <= {HELD_TOLERANCE_MIB:.0f} MiB held",
        worst,
        worst is not None and worst <= HELD_TOLERANCE_MIB,
        why("oom_retry"),
    )
    helds = [
        p["figures"]["held_after_trial_mib"]
        for p in done
        if p["status"] == "measured" and "held_after_trial_mib" in p["figures"]
    ]
    worst = max(helds) if helds else None
    add(
        "every trial's memory released before the next",
        f"<= {HELD_TOLERANCE_MIB:.0f} MiB held",
        worst,
        worst is not None and worst <= HELD_TOLERANCE_MIB,
        no_gpu or "no trial measured",
    )
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json/.md")
    parser.add_argument("--dry-run", action="store_true", help="tiny model on the CPU: plumbing")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: temp)")
    parser.add_argument("--wheels", type=Path, default=report.DEFAULT_WHEELS)
    parser.add_argument("--budget-s", type=float, default=450.0)
    parser.add_argument(
        "--packed-trials", type=int, default=4, help="trials packed at 0.25 GPU each (1 to 4)"
    )
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be positive, got {args.budget_s}")
    if not 1 <= args.packed_trials <= 4:
        parser.error(f"--packed-trials must be 1 to 4, got {args.packed_trials}")
    if args.dry_run:  # the CPU even on a GPU machine (read when CUDA starts; workers inherit it)
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.time()
    work = args.work or Path(tempfile.mkdtemp(prefix="hpsearch-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    ctx, setup = _setup(args, work)
    base = {
        "mode": "GPU" if ctx.cuda else ("dry run (CPU)" if args.dry_run else "CPU: no CUDA"),
        "machine": report.machine(),
        "versions": report.versions(),
        "wheels": report.wheel_check(args.wheels),
    }

    def record(done: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
        return {
            **base,
            "complete": complete,
            "parts": done,
            "goals": _goals(ctx, done),
            "wall_s": round(time.time() - started, 1),
        }

    def save(done: list[dict[str, Any]]) -> None:  # after each part: a killed run keeps them
        report.write(args.out, record(done, complete=False))

    done = _run_parts(ctx, started + args.budget_s, args.packed_trials, [setup], save)
    json_path, md_path = report.write(args.out, record(done, complete=True))
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
