"""Memory estimate against the measured peak, one fresh process per configuration.

    python -m benchmarks.memory_estimate [--smoke]

Each configuration runs in its own process: a 1-step warm-up trial loads the model, the data
and the libraries; then the peak is reset and the measured trial runs. On a CUDA machine the
measurement is the allocator's peak (``torch.cuda.max_memory_allocated``) minus what was
allocated before the trial; on a CPU it is the growth of the process's peak resident set.
The estimate is hpsearch's pre-flight estimate (trainers/_memory.py) for the same trial.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from benchmarks.common import markdown_table


def machine() -> str:
    import platform

    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {gpu}; Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


CONFIGS = [
    # (label, task, method, batch, seq, gradient checkpointing)
    ("MiniLM cls, LoRA", "classification", "lora", 32, 128, False),
    ("MiniLM cls, LoRA, grad ckpt", "classification", "lora", 32, 128, True),
    ("MiniLM cls, full", "classification", "full", 32, 128, False),
    ("MiniLM cls, LoRA, batch 8", "classification", "lora", 8, 128, False),
]


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(label: str) -> dict[str, float | str]:
    """Runs inside the child process."""
    import torch

    from hpsearch.trainers import (
        DataConfig,
        HyperParams,
        ModelConfig,
        NullReporter,
        RunPaths,
        ScheduleConfig,
        TrialConfig,
        runner_for,
    )

    _, task, method, batch, seq, ckpt = next(c for c in CONFIGS if c[0] == label)
    tmp = Path(tempfile.mkdtemp(prefix="hpsmem"))
    lora = (
        None
        if method == "full"
        else {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"}
    )
    config = TrialConfig(
        run_name="mem-0",
        model=ModelConfig(None, task, method, lora, precision="fp32"),  # type: ignore[arg-type]
        data=DataConfig(None, max_seq_length=seq, max_eval_samples=16),
        schedule=ScheduleConfig(max_steps=3, eval_steps=3),
        hparams=HyperParams(
            per_device_train_batch_size=batch,
            per_device_eval_batch_size=4,
            training_args={"learning_rate": 1e-4, "gradient_checkpointing": ckpt},
        ),
        paths=RunPaths(str(tmp / "c"), str(tmp / "f")),
    )
    runner = runner_for(task)
    warm = replace(
        config,
        hparams=replace(config.hparams, per_device_train_batch_size=1),
        schedule=replace(config.schedule, max_steps=1, eval_steps=1),
        paths=RunPaths(str(tmp / "wc"), str(tmp / "wf")),
    )
    runner.run(warm, NullReporter())
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
    else:
        Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")
        start = _rss_kb("VmRSS") * 1024
    reporter = NullReporter()
    runner.run(config, reporter)
    peak = torch.cuda.max_memory_allocated() if cuda else _rss_kb("VmHWM") * 1024
    return {
        "label": label,
        "estimate_gb": float(reporter.attrs["memory_estimate_gb"]),
        "measured_gb": (peak - start) / 2**30,
        "device": "cuda" if cuda else "cpu",
        "detail": str(reporter.attrs["memory_estimate"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one configuration")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    rows = []
    for config in CONFIGS[:1] if args.smoke else CONFIGS:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory_estimate", "--child", config[0]],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = result["measured_gb"] / result["estimate_gb"]
        rows.append(
            [
                result["label"],
                result["device"],
                f"{result['estimate_gb']:.3f}",
                f"{result['measured_gb']:.3f}",
                f"{ratio:.2f}",
                result["detail"],
            ]
        )
    print(f"Memory estimate vs measured peak ({machine()})\n")
    print(
        markdown_table(
            [
                "configuration",
                "device",
                "estimate GB",
                "measured GB",
                "measured / estimate",
                "estimate breakdown",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
