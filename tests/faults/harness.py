"""Helpers for fault-injection tests: background CLI runs, killing process trees, waiting."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

HF_SPACE = """
name: faults
trials: {trials}
sampler: {{type: random, seed: 3}}
pruner: {{type: none}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
retries: {{max_retries: 2, heartbeat_interval: 1, grace_period: {grace}}}
params:
  learning_rate: {{type: float, low: 1.0e-3, high: 5.0e-3, log: true}}
  effective_batch_size: 8
  per_device_train_batch_size: {batch}
  lr_scheduler_type: linear
  warmup_ratio: 0.1
  lora_r: 4
  lora_alpha: 8
  lora_dropout: 0.0
task:
  type: causal_lm
  model: {model}
  dataset: {dataset}
  max_steps: {max_steps}
  eval_steps: {eval_steps}
  max_seq_length: 32
  max_eval_samples: 16
  per_device_eval_batch_size: 16
"""


def write_hf_space(
    path: Path,
    *,
    model: str,
    dataset: str,
    trials: int = 1,
    grace: int = 6,
    batch: int = 4,
    max_steps: int = 24,
    eval_steps: int = 4,
) -> str:
    path.write_text(
        HF_SPACE.format(
            trials=trials,
            grace=grace,
            batch=batch,
            model=model,
            dataset=dataset,
            max_steps=max_steps,
            eval_steps=eval_steps,
        )
    )
    return str(path)


def start_cli(
    args: list[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[str]:
    """``hpsearch`` in its own process group (so the whole tree can be killed)."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "hpsearch.search.cli.main", *args],
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def processes_mentioning(text: str) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def kill_tree(proc: subprocess.Popen[str], *, also_matching: str | None = None) -> None:
    """SIGKILL the process, its process group, every descendant and (optionally) every process
    whose command line mentions ``also_matching`` (Ray daemons detach from the group)."""
    victims = {proc.pid} | descendants(proc.pid)
    if also_matching:
        victims |= processes_mentioning(also_matching)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (KeyError, ValueError, optuna.exceptions.StorageInternalError):
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
