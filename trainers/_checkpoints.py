"""Atomic checkpoint commits on top of Hugging Face's non-atomic checkpoint writes.

HF writes ``checkpoint-<step>/`` file by file; a kill in the middle leaves a folder that looks
like a checkpoint. hpsearch therefore *commits* a checkpoint after HF has written it: every file
is fsynced, then a manifest (file names and sizes) is written to a temporary file, fsynced and
atomically renamed to ``hpsearch-complete.json``. Only a folder whose manifest exists and matches
the files on disk counts as complete; resume always takes the newest complete one, so a kill
during a write costs at most one checkpoint interval and needs no manual cleanup.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "hpsearch-complete.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    metric: float | None = None


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems (e.g. certain network mounts) cannot fsync a directory
    finally:
        os.close(fd)


def _files(folder: Path) -> dict[str, int]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MARKER and not path.name.endswith(".tmp"):
            out[str(path.relative_to(folder))] = path.stat().st_size
    return out


def commit(
    folder: Path, *, step: int, metric: float | None = None, extra: dict[str, Any] | None = None
) -> None:
    """Mark ``folder`` complete. Raises ``OSError`` (e.g. ENOSPC) if it cannot."""
    files = _files(folder)
    for name in files:
        _fsync_file(folder / name)
    _fsync_dir(folder)
    manifest = {"step": step, "metric": metric, "files": files, **(extra or {})}
    tmp = folder / (MARKER + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, folder / MARKER)
    _fsync_dir(folder)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete checkpoint, or None if it is missing, torn or mismatched."""
    try:
        manifest = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = manifest.get("files")
    if not isinstance(files, dict):
        return None
    for name, size in files.items():
        try:
            if (folder / name).stat().st_size != size:
                return None
        except OSError:
            return None
    return manifest


def is_complete(folder: Path) -> bool:
    return read_manifest(folder) is not None


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Every ``checkpoint-<step>`` folder under ``folder``, complete or not, by step."""
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT_RE.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
    return sorted(found)


def complete_checkpoints(folder: Path) -> list[Checkpoint]:
    out = []
    for step, path in list_checkpoints(folder):
        manifest = read_manifest(path)
        if manifest is not None:
            out.append(Checkpoint(path, step, manifest.get("metric")))
    return out


def newest_complete(folders: Iterable[Path]) -> Checkpoint | None:
    """The complete checkpoint with the highest step across ``folders`` (a retry lineage)."""
    best: Checkpoint | None = None
    for folder in folders:
        for checkpoint in complete_checkpoints(folder):
            if best is None or checkpoint.step > best.step:
                best = checkpoint
    return best


def retain(folder: Path, *, keep: Iterable[Path]) -> list[Path]:
    """Delete every checkpoint in ``folder`` but the newest complete one and ``keep``.

    Incomplete folders (torn writes) are deleted too, unless they are newer than the newest
    complete checkpoint (HF may be writing that one right now). Returns what was deleted.
    """
    keep_set = {Path(p).resolve() for p in keep}
    complete = complete_checkpoints(folder)
    newest = complete[-1] if complete else None
    if newest is not None:
        keep_set.add(newest.path.resolve())
    deleted = []
    for step, path in list_checkpoints(folder):
        if path.resolve() in keep_set:
            continue
        if newest is None or step > newest.step:
            continue
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path)
    return deleted


def remove_incomplete(folder: Path) -> list[Path]:
    """Delete torn checkpoint folders (used when a trial has finished)."""
    deleted = []
    for _, path in list_checkpoints(folder):
        if not is_complete(path):
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(path)
    return deleted


def finalize(folder: Path, *, greater_is_better: bool) -> list[Path]:
    """When a trial is over: keep its newest and its best complete checkpoint, nothing else."""
    complete = complete_checkpoints(folder)
    scored = [c for c in complete if c.metric is not None]
    keep = []
    if scored:
        pick = max if greater_is_better else min
        keep.append(pick(scored, key=lambda c: float(c.metric or 0.0)).path)
    return retain(folder, keep=keep) + remove_incomplete(folder)


def describe_write_error(exc: BaseException, folder: Path) -> str:
    """A one-line description of a failed checkpoint write, naming a full disk as such."""
    try:
        free = shutil.disk_usage(folder if folder.exists() else folder.parent).free
    except OSError:
        free = None
    full = (
        getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
        or ("No space left" in str(exc))
        or (free is not None and free < 1 << 20)
    )
    if full:
        where = f" ({free / 2**20:.1f} MiB free)" if free is not None else ""
        return (
            f"no space left writing {folder.name} under {folder.parent}{where}; free disk space "
            "or move --checkpoint-dir (older complete checkpoints are intact)"
        )
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot write checkpoint {folder}: {detail}"


def tmp_dir(target: Path) -> Path:
    """Where :func:`write_dir_atomically` writes ``target`` before renaming it into place."""
    target = Path(target)
    return target.with_name(target.name + ".tmp")


def begin_dir(target: Path) -> Path:
    """An empty temporary folder for ``target`` (see :func:`end_dir`)."""
    tmp = tmp_dir(target)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def end_dir(target: Path, tmp: Path) -> None:
    """Commit ``tmp`` and rename it to ``target``, replacing what was there."""
    target = Path(target)
    commit(tmp, step=-1)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def write_dir_atomically(target: Path, write: Any) -> None:
    """Write a folder via ``write(tmp_folder)`` then rename it into place, committed."""
    tmp = begin_dir(target)
    write(tmp)
    end_dir(target, tmp)
