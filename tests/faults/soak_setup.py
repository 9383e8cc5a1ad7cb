"""The chaos soak's settings, study space, checkpoint disk and report (tests/faults/chaos.py)."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.soak_checks import RoundResult

SPACE = """
name: soak
trials: {budget}
sampler: {{type: tpe, seed: 1, n_startup_trials: 6}}
pruner: {{type: median, n_warmup_steps: 10}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
retries: {{max_retries: {max_retries}, heartbeat_interval: 1, grace_period: 30}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 1.0e-2, log: true}}
  warmup_ratio: {{type: float, low: 0.0, high: 0.2}}
  per_device_train_batch_size: {{type: categorical, choices: [4, 8]}}
  effective_batch_size: 16
task:
  type: simulated
  max_steps: {max_steps}
  eval_steps: 5
  simulated: {{seconds_per_step: {seconds_per_step}}}
"""


@contextlib.contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[bool]:
    """A tmpfs of ``size_mb`` at ``path`` (True), or a plain folder where mounting fails."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


@dataclass
class SoakConfig:
    duration_s: float
    budget: int = 30
    max_retries: int = 3
    max_steps: int = 40
    seconds_per_step: float = 0.2
    workers_per_driver: int = 2
    drivers: int = 2
    gap_s: tuple[float, float] = (8.0, 20.0)  # time between two faults
    disk_full_s: tuple[float, float] = (1.0, 3.0)
    finish_s: float = 600.0  # a round must end this long after the chaos has stopped
    seed: int = 0


# Why a driver the soak did not kill may exit non-zero, and still leave the study resumable
# (a replacement continues it): it started while the database was restarting (refused at once,
# by design, exit 3), or its private Ray died under it (a `ray stop --force` anywhere on this
# shared machine kills every Ray). Any other exit fails the soak.
EXPLAINED_EXITS = {
    "checkpoint disk full at its start": ("cannot be used: No space left on device",),
    "database down at start": ("cannot reach the database", "cannot open the study storage"),
    "its Ray died": (
        "Failed to connect to GCS",
        "GCS has been unavailable",
        "node timed out during startup",
        "Failed to start GCS",
        "raylet because it is dead",
    ),
}


def exit_cause(log_tail: str) -> str:
    for cause, marks in EXPLAINED_EXITS.items():
        if any(mark in log_tail for mark in marks):
            return cause
    return "unexplained"


@dataclass
class SoakReport:
    config: SoakConfig
    disk_mounted: bool
    rounds: list[RoundResult] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    driver_exits: list[dict[str, Any]] = field(default_factory=list)  # non-zero, not killed
    events: list[dict[str, Any]] = field(default_factory=list)
    hangs: list[dict[str, Any]] = field(default_factory=list)  # rounds that did not end
    started: float = field(default_factory=time.time)
    ended: float = 0.0

    def unexplained_exits(self) -> list[dict[str, Any]]:
        return [e for e in self.driver_exits if e["cause"] == "unexplained"]

    def figures(self) -> dict[str, Any]:
        states: Counter[str] = Counter()
        for result in self.rounds:
            states.update(result.states)
        return {
            "duration_s": round(self.ended - self.started, 1),
            "chaos_window_s": self.config.duration_s,
            "rounds": len(self.rounds),
            "budget_per_round": self.config.budget,
            "trials": sum(r.trials for r in self.rounds),
            "finished": sum(r.finished for r in self.rounds),
            "states": dict(states),
            "retries": sum(r.retries for r in self.rounds),
            "retries_from_checkpoint": sum(r.resumed for r in self.rounds),
            "retries_from_scratch": sum(r.scratch for r in self.rounds),
            "disk_full_failures": sum(r.disk_full for r in self.rounds),
            "retries_completing_params": sum(r.completed_params for r in self.rounds),
            "faults": dict(self.faults),
            "disk": "tmpfs" if self.disk_mounted else "failpoint checkpoint.write=enospc",
            "driver_exits": dict(Counter(e["cause"] for e in self.driver_exits)),
            "unexplained_driver_exits": self.unexplained_exits(),
            "hangs": self.hangs,
            "problems": [p for r in self.rounds for p in r.problems],
            "per_round": [
                {"study": r.study, "trials": r.trials, "elapsed_s": r.elapsed_s, **r.states}
                for r in self.rounds
            ],
            "events": self.events,
        }
