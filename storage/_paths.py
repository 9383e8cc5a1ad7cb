"""Checkpoint and artifact locations.

Layout under the checkpoint root (``--checkpoint-dir``; a shared filesystem on a cluster)::

    <root>/<study>/trial-00007/checkpoints/checkpoint-40/   resumable training state
    <root>/<study>/trial-00007/adapter/                      final (best) adapter or model
    <root>/<study>/artifacts/                                optuna-dashboard artifact store
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StudyPaths:
    root: Path
    study_name: str

    @property
    def study_dir(self) -> Path:
        return self.root / self.study_name

    @property
    def artifacts_dir(self) -> Path:
        return self.study_dir / "artifacts"

    def trial_dir(self, number: int) -> Path:
        return self.study_dir / f"trial-{number:05d}"

    def checkpoints_dir(self, number: int) -> Path:
        return self.trial_dir(number) / "checkpoints"

    def adapter_dir(self, number: int) -> Path:
        return self.trial_dir(number) / "adapter"


def ensure_writable(root: Path) -> Path:
    """Create ``root`` and prove it is writable; raise ``OSError`` with the path if not."""
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    probe = root / ".hpsearch-write-test"
    probe.write_text("ok")
    probe.unlink()
    return root
