"""The simulated trainer keeps the HF runner's contract when its disk fails it."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from hpsearch.trainers import (
    CheckpointWriteError,
    ModelConfig,
    RunPaths,
    ScheduleConfig,
    complete_checkpoints,
    runner_for,
)
from tests.trainers.helpers import PruneAt, causal_config


@contextlib.contextmanager
def _small_disk(path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs at ``path``."""
    path.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> None:
    with open(disk / "filler", "wb", buffering=0) as handle:
        for chunk in (1 << 16, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * chunk)


class FillDiskAt(PruneAt):
    """Fills ``disk`` once step ``at`` is reported (before that step's checkpoint)."""

    def __init__(self, disk: Path, at: int) -> None:
        super().__init__()
        self.disk, self.at = disk, at

    def report(self, step: int, value: float) -> None:
        super().report(step, value)
        if step == self.at:
            _fill(self.disk)


@pytest.mark.parametrize("where", ["checkpoint", "final folder"])
def test_a_full_disk_is_a_checkpoint_write_failure(tmp_path: Path, where: str) -> None:
    """As with the HF runner: a full disk while writing a checkpoint or the final folder is a
    CheckpointWriteError saying so in one line (not an unexpected OSError); the older complete
    checkpoints survive."""
    with _small_disk(tmp_path / "disk") as disk:
        on_disk, elsewhere = str(disk / "out"), str(tmp_path / "out")
        config = replace(
            causal_config("unused", "unused", tmp_path),
            model=ModelConfig("simulated", "simulated", "full", {}),
            schedule=ScheduleConfig(max_steps=15, eval_steps=5, metric="eval_loss"),
            paths=RunPaths(on_disk, elsewhere)
            if where == "checkpoint"
            else RunPaths(elsewhere, on_disk),
        )
        if where == "checkpoint":
            reporter = FillDiskAt(disk, at=10)
        else:
            _fill(disk)
            reporter = PruneAt()
        with pytest.raises(CheckpointWriteError) as info:
            runner_for("simulated").run(config, reporter)
        message = str(info.value)
        assert message.startswith("no space left writing") and "\n" not in message, message
        if where == "checkpoint":
            complete = complete_checkpoints(Path(config.paths.checkpoints_dir))
            assert [c.step for c in complete] == [5]


def test_a_full_budget_trial_is_complete_even_when_the_pruner_says_prune(tmp_path: Path) -> None:
    """The pruner is not asked at the last evaluation: its result is kept (COMPLETE)."""
    config = replace(
        causal_config("unused", "unused", tmp_path),
        model=ModelConfig("simulated", "simulated", "full", {}),
        schedule=ScheduleConfig(max_steps=15, eval_steps=5, metric="eval_loss"),
    )
    result = runner_for("simulated").run(config, PruneAt(step=15))  # "prune" from step 15 on
    assert result.status == "complete" and result.last_step == 15
    pruned = runner_for("simulated").run(
        replace(config, paths=RunPaths(str(tmp_path / "c2"), str(tmp_path / "f2"))), PruneAt(10)
    )
    assert pruned.status == "pruned" and pruned.last_step == 10  # before the end: pruned
