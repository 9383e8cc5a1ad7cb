"""What every peer runner shares: the surrogate, the space, the epoch ledger, the result file.

This module runs inside each peer library's own virtualenv (see ``setup_envs.sh``), so it needs
only the standard library, numpy and onnxruntime. It imports nothing from hpsearch. The
surrogate is hpsearch's benchmark's own module, ``benchmarks.sample_efficiency.lcbench`` (numpy
and onnxruntime only); the runners are run as ``python -m
benchmarks.sample_efficiency_peers.run_*`` with the repository root on ``PYTHONPATH``.

Budget accounting (the same as ``benchmarks.sample_efficiency``): the unit is one epoch; one
full-budget equivalent (FBE) is one configuration trained to the last epoch (52 on lcbench).
Every epoch a method makes the surrogate train is billed once, when it ends:

- a trial that pauses and is later resumed from its checkpoint (syne-tune's promotion-type
  schedulers) is billed only the epochs after the one it paused at;
- an evaluation started from scratch at fidelity ``b`` (DEHB, SMAC: they keep no checkpoint)
  is billed ``b`` epochs, even if the same configuration ran at a lower fidelity before;
- the run stops once the budget is spent; an evaluation still running then is abandoned (its
  epochs up to the budget are billed, it never reports).

A full-fidelity evaluation is one that reaches the last epoch; each is recorded in the
trajectory as ``[epochs spent so far, simulated seconds so far, val_accuracy]``. Simulated time
is the sum of the surrogate's per-epoch ``time`` (one worker, sequential; decision time is not
added to it). Decision time is the wall time spent inside the library's own calls
(suggest/ask, on_trial_result/tell, ...), timed with ``Ledger.decision``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

METRIC = "val_accuracy"  # maximised, in percent


def load_lcbench() -> ModuleType:
    """The lcbench surrogate module, ``benchmarks.sample_efficiency.lcbench``."""
    from benchmarks.sample_efficiency import lcbench

    return lcbench


def default_data_path() -> Path:
    return Path(os.environ.get("HPSEARCH_LCBENCH_DATA", load_lcbench().DEFAULT_DATA_PATH))


def space(data_path: str | Path) -> dict[str, dict[str, Any]]:
    """The searched parameters: ``lcbench.space_params`` (what hpsearch's benchmark uses)."""
    params: dict[str, dict[str, Any]] = load_lcbench().space_params(data_path)
    for name, p in params.items():
        if p["type"] not in ("int", "float"):
            # lcbench has none; a runner would need a categorical mapping first.
            raise ValueError(f"parameter {name!r} has unsupported type {p['type']!r}")
    return params


def normalize(config: dict[str, Any], params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The searched parameters of ``config`` as Python ints/floats, checked against the box.

    A library returning a value outside the space is an error (raised, never clipped), so every
    method provably searches the same box.
    """
    out: dict[str, Any] = {}
    for name, p in params.items():
        if name not in config:
            raise ValueError(f"configuration lacks {name!r}: {config}")
        value = float(config[name])
        if p["type"] == "int":
            if abs(value - round(value)) > 1e-6:
                raise ValueError(f"{name}={config[name]!r} is not an integer")
            value = round(value)
        tol = 1e-9 * max(1.0, abs(p["high"]))
        if not p["low"] - tol <= value <= p["high"] + tol:
            raise ValueError(f"{name}={value!r} outside [{p['low']}, {p['high']}]")
        out[name] = value
    return out


class BudgetSpent(Exception):
    """Raised by ``Ledger.train_epoch`` once the epoch budget is spent."""


class Ledger:
    """Bills epochs, keeps the trajectory and times the library's decisions."""

    def __init__(self, data_path: str | Path, instance: str, budget_fbe: float):
        self.params = space(data_path)
        self.surrogate = load_lcbench().LcbenchSurrogate(data_path, instance)
        self.max_epoch: int = self.surrogate.max_epoch
        self.budget_epochs = round(budget_fbe * self.max_epoch)
        self.epochs = 0
        self.sim_time = 0.0
        self.trajectory: list[list[float]] = []
        self.best_config: dict[str, Any] | None = None  # of the best full-fidelity value
        self._best = -1
        self.n_trials = 0  # trials (or evaluations) started from scratch
        self.n_resumes = 0  # paused trials resumed from their checkpoint
        self.epochs_retrained = 0  # epochs of a configuration trained a second time
        self._trained: set[tuple[tuple[tuple[str, Any], ...], int]] = set()
        self.n_reports = 0  # results told to the library (per epoch for syne-tune)
        self._configs: set[tuple[tuple[str, Any], ...]] = set()
        self._curves: dict[tuple[tuple[str, Any], ...], Any] = {}
        self.decision_s: dict[str, list[float]] = {}  # wall seconds per call, by kind
        self.decision_cpu_s: dict[str, float] = {}  # CPU seconds (all threads), by kind
        self.settings: dict[str, Any] = {}

    @property
    def spent(self) -> bool:
        return self.epochs >= self.budget_epochs

    @contextmanager
    def decision(self, kind: str) -> Iterator[None]:
        """Time one call into the library (``kind``: suggest, ask, report, tell, ...)."""
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.decision_s.setdefault(kind, []).append(time.perf_counter() - started)
            self.decision_cpu_s[kind] = self.decision_cpu_s.get(kind, 0.0) + (
                time.process_time() - cpu_started
            )

    def _curve(self, config: dict[str, Any]) -> tuple[Any, tuple[tuple[str, Any], ...]]:
        key = tuple(sorted(config.items()))
        if key not in self._curves:
            self._curves[key] = self.surrogate.curve(config)
        return self._curves[key], key

    def start(self, config: dict[str, Any], *, resumed: bool = False) -> None:
        """Count a trial start (``resumed``: continued from a checkpoint)."""
        _, key = self._curve(config)
        self._configs.add(key)
        if resumed:
            self.n_resumes += 1
        else:
            self.n_trials += 1

    def train_epoch(self, config: dict[str, Any], epoch: int) -> float:
        """Train ``config`` from the end of ``epoch - 1`` to the end of ``epoch``: bill one epoch
        and return val_accuracy after it. Raises ``BudgetSpent`` instead once nothing is left.
        """
        if self.spent:
            raise BudgetSpent
        if not 1 <= epoch <= self.max_epoch:
            raise ValueError(f"epoch {epoch} outside 1..{self.max_epoch}")
        curve, key = self._curve(config)
        before = float(curve.cum_time[epoch - 2]) if epoch > 1 else 0.0
        if (key, epoch) in self._trained:
            self.epochs_retrained += 1  # from scratch again (DEHB, SMAC); never on a resume
        self._trained.add((key, epoch))
        self.epochs += 1
        self.sim_time += float(curve.cum_time[epoch - 1]) - before
        value = float(curve.val_accuracy[epoch - 1])
        if epoch == self.max_epoch:
            self.trajectory.append([self.epochs, round(self.sim_time, 3), value])
            if self.best_config is None or value > self.trajectory[self._best][2]:
                self.best_config, self._best = dict(config), len(self.trajectory) - 1
        return value

    def evaluate_from_scratch(self, config: dict[str, Any], epochs: int) -> tuple[float, float]:
        """Train ``config`` from scratch for ``epochs`` epochs (no checkpoint): bill each epoch.
        Returns val_accuracy after the last and the evaluation's simulated seconds; raises
        ``BudgetSpent`` if the budget ends first.
        """
        if self.spent:
            raise BudgetSpent
        self.start(config)
        value = float("nan")
        for epoch in range(1, epochs + 1):
            value = self.train_epoch(config, epoch)
        curve, _ = self._curve(config)
        return value, float(curve.cum_time[epochs - 1])

    def result(self, **extra: Any) -> dict[str, Any]:
        per_kind = {
            kind: {
                "n": len(v),
                "total_s": sum(v),
                "max_s": max(v) if v else 0.0,
                "cpu_s": self.decision_cpu_s.get(kind, 0.0),
            }
            for kind, v in self.decision_s.items()
        }
        total = sum(k["total_s"] for k in per_kind.values())
        total_cpu = sum(k["cpu_s"] for k in per_kind.values())
        starts = self.n_trials + self.n_resumes
        return {
            "instance": self.surrogate.instance,
            "max_epoch": self.max_epoch,
            "budget_epochs": self.budget_epochs,
            "epochs_used": self.epochs,
            "epochs_retrained": self.epochs_retrained,
            "sim_time_s": round(self.sim_time, 3),
            "n_trials": self.n_trials,
            "n_resumes": self.n_resumes,
            "n_configs": len(self._configs),
            "n_reports": self.n_reports,
            "n_full": len(self.trajectory),
            "trajectory": self.trajectory,
            "best_config": self.best_config,
            "decision": {
                # Wall seconds inside the library's calls (inflated on a loaded machine) and
                # the CPU seconds they used; per_start: per trial started or resumed.
                "total_s": total,
                "cpu_s": total_cpu,
                "per_start_s": total / starts if starts else None,
                "cpu_per_start_s": total_cpu / starts if starts else None,
                "per_kind": per_kind,
                # One entry per suggest/ask call (a trial started or resumed), in order.
                "suggest_s": [
                    round(s, 5)
                    for s in self.decision_s.get("suggest", self.decision_s.get("ask", []))
                ],
            },
            "settings": self.settings,
            **extra,
        }


def parse_runner_args(
    methods: tuple[str, ...], argv: list[str] | None = None
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="one peer run on the lcbench surrogate")
    parser.add_argument("--method", required=True, choices=methods)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--budget-fbe", type=float, required=True)
    parser.add_argument("--data-path", default=None)
    parser.add_argument("--result", required=True, help="file to write the run's JSON to")
    args = parser.parse_args(argv)
    if args.data_path is None:
        args.data_path = str(default_data_path())
    return args


def write_result(
    path: str | Path, ledger: Ledger, args: argparse.Namespace, library: str, **extra: Any
) -> None:
    """Write one run's JSON (atomically: a half-written file never looks like a result)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    doc = ledger.result(
        library=library,
        library_version=importlib.metadata.version(library),
        method=args.method,
        seed=args.seed,
        budget_fbe=args.budget_fbe,
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        python=sys.version.split()[0],
        **extra,
    )
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(doc, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def fidelity_epochs(fidelity: float, max_epoch: int) -> int:
    """A library's (possibly fractional) fidelity as whole epochs: rounded to nearest, >= 1.

    DEHB's and SMAC's Hyperband on 1..52 with eta 3 ask for 52/27, 52/9, 52/3 and 52 epochs;
    they are trained (and billed) as 2, 6, 17 and 52 epochs.
    """
    epochs = math.floor(fidelity + 0.5)
    return min(max(epochs, 1), max_epoch)


def quiet_stdout() -> None:
    """Send anything a library prints to stdout to stderr (the result goes to a file)."""
    sys.stdout = sys.stderr
