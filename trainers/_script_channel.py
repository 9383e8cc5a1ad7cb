"""The channel between a trial's worker and the user's training script (bring your own training).

The worker runs the script as its child process with one environment variable, ``HPSEARCH_TRIAL``:
the path of a JSON file (:class:`TrialSpec`) holding the trial's parameters, where to save
checkpoints, the checkpoint to resume from, the objective metric and the channel folder. In that
folder the script's :class:`~hpsearch.trainers.TrialCallback` appends one JSON line per
evaluation to ``reports.jsonl`` (flushed and fsynced, numbered from 0) and then waits for the
worker's answer ``decision-<seq>.json`` (written to a temporary file and renamed into place):
``{"action": "continue" | "prune" | "pause" | "stop", "reason": ...}``. A ``prune`` or ``stop``
ends the script's training at once; a ``pause`` ends it after a checkpoint of that very step is
saved and committed (the search may continue the configuration from it later). Without
``HPSEARCH_TRIAL`` there is no channel and nothing is sent.

This module imports neither transformers nor Optuna: both sides use it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV = "HPSEARCH_TRIAL"
REPORTS = "reports.jsonl"
Action = Literal["continue", "prune", "pause", "stop"]
STOPS = ("prune", "pause", "stop")  # the actions that end the script's training


@dataclass(frozen=True)
class TrialSpec:
    """What the worker tells the script (the JSON file named by ``HPSEARCH_TRIAL``)."""

    trial: int
    params: Mapping[str, Any]
    output_dir: str  # where the script's Trainer writes its checkpoint-<step> folders
    channel: str
    metric: str = "eval_loss"
    greater_is_better: bool = False
    checkpoint_every: int = 1  # commit a checkpoint every N evaluations
    resume_from_checkpoint: str | None = None
    decision_timeout_s: float = 600.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        _write_atomically(path, asdict(self))

    @classmethod
    def read(cls, path: str | Path) -> TrialSpec:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{ENV}={path} cannot be read as a trial file: {exc}") from None
        return cls(**data)


def current_spec() -> TrialSpec | None:
    """The trial this process runs for, or None outside hpsearch."""
    path = os.environ.get(ENV)
    return TrialSpec.read(path) if path else None


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class ScriptSide:
    """The script's end: send an evaluation, wait for the worker's decision."""

    def __init__(self, spec: TrialSpec) -> None:
        self.spec = spec
        self.folder = Path(spec.channel)
        self.seq = 0

    def send(self, kind: str, **payload: Any) -> int:
        seq = self.seq
        self.seq += 1
        line = json.dumps({"seq": seq, "kind": kind, **payload}, default=float)
        with open(self.folder / REPORTS, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return seq

    def evaluation(self, step: int, metrics: Mapping[str, Any]) -> tuple[Action, str | None]:
        """Report an evaluation; return the worker's decision for it."""
        numbers = {
            k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None
        }
        seq = self.send("evaluate", step=step, metrics=numbers)
        path = self.folder / f"decision-{seq}.json"
        deadline = time.monotonic() + self.spec.decision_timeout_s
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"hpsearch's worker did not answer evaluation {seq} (step {step}) within "
                    f"{self.spec.decision_timeout_s:g} s"
                )
            time.sleep(0.02)
        decision = json.loads(path.read_text(encoding="utf-8"))
        return decision["action"], decision.get("reason")


@dataclass
class Report:
    seq: int
    kind: str
    payload: dict[str, Any]


class WorkerSide:
    """The worker's end: read new report lines, answer evaluations."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offset = 0

    def poll(self) -> list[Report]:
        """Complete lines appended since the last poll (a partial last line waits)."""
        try:
            with open(self.folder / REPORTS, "rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self._offset += end + 1
        out = []
        for raw in data[: end + 1].splitlines():
            record = json.loads(raw)
            out.append(Report(int(record.pop("seq")), str(record.pop("kind")), record))
        return out

    def decide(self, seq: int, action: Action, reason: str | None = None) -> None:
        _write_atomically(
            self.folder / f"decision-{seq}.json", {"action": action, "reason": reason}
        )
