"""Checkpoint and artifact locations.

Layout under the checkpoint root (``--checkpoint-dir``; a shared filesystem on a cluster)::

    <root>/<study>/trial-00007/checkpoints/checkpoint-40/   resumable training state
    <root>/<study>/trial-00007/adapter/                      final (best) adapter or model
    <root>/<study>/artifacts/                                optuna-dashboard artifact store
"""

from __future__ import annotations

import errno
import tempfile
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


def check_writable(root: Path) -> Path:
    """Prove ``root`` is, or can be created as, a writable folder, leaving nothing behind.

    The check :func:`ensure_writable` makes, run before anything is written: the deepest
    folder of ``root`` that exists must be a folder this process can create files in.
    Raises ``OSError`` naming the path that stops it.
    """
    root = root.expanduser().resolve()
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(existing))
    with tempfile.TemporaryFile(dir=existing, prefix=".hpsearch-write-test"):
        pass
    return root
