"""Trial files in optuna-dashboard's artifact store: upload, find, fetch.

A finished trial's final folder (adapter or model, tokenizer, ``hpsearch_trial.json``) is
uploaded as one ``.tar.gz`` archive plus the readable ``hpsearch_trial.json``, so the dashboard
lists them on the trial's page and anyone with the dashboard can download them. The files live
under ``StudyPaths(root, study).artifacts_dir``; the artifact metadata is a trial *system*
attribute, which Optuna accepts only while the trial runs: upload before the final ``tell``.

One dashboard serves every study of a storage, each with its own artifacts folder, so the
server reads through :class:`StudyArtifactStore`, which finds an artifact in any study's folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.storages import BaseStorage

from hpsearch.search.records import attributes as A
from hpsearch.storage import StudyPaths, storage_of

_logger = logging.getLogger(__name__)

ARTIFACTS_PREFIX = "artifacts:"  # optuna.artifacts' key prefix in trial system attributes
ARCHIVE_SUFFIX = "-final.tar.gz"
RECORD_NAME = "hpsearch_trial.json"
ENV_MAX_ARCHIVE_MB = "HPSEARCH_ARTIFACT_MAX_MB"
DEFAULT_MAX_ARCHIVE_MB = 1024.0
ARTIFACT_ERROR = "artifact_error"  # trial user attribute: why files were not uploaded


@dataclass(frozen=True)
class TrialArtifact:
    artifact_id: str
    filename: str
    mimetype: str


def archive_name(number: int) -> str:
    return f"trial-{number:05d}{ARCHIVE_SUFFIX}"


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def upload_trial_artifacts(
    study: optuna.Study,
    trial_id: int,
    final_dir: str | Path,
    artifacts_dir: str | Path,
    *,
    strict: bool = False,
) -> list[TrialArtifact]:
    """Upload ``final_dir`` (archive + ``hpsearch_trial.json``) to the running trial ``trial_id``.

    Never fails the trial: a problem is logged, recorded as the ``artifact_error`` user
    attribute and an empty list returned (``strict=True`` raises instead, for tests).
    """
    try:
        return _upload(study, trial_id, Path(final_dir), Path(artifacts_dir))
    except Exception as exc:
        if strict:
            raise
        _logger.warning("could not upload the files of trial id %s: %s", trial_id, exc)
        # the trial may be finished already; then the log line is all there is
        with contextlib.suppress(Exception):
            storage_of(study).set_trial_user_attr(trial_id, ARTIFACT_ERROR, str(exc)[:500])
        return []


def _upload(
    study: optuna.Study, trial_id: int, final_dir: Path, artifacts_dir: Path
) -> list[TrialArtifact]:
    storage = storage_of(study)
    number = storage.get_trial_number_from_id(trial_id)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    store = FileSystemArtifactStore(artifacts_dir)
    frozen = storage.get_trial(trial_id)
    uploaded: list[TrialArtifact] = []

    def put(path: Path, mimetype: str) -> None:
        artifact_id = upload_artifact(
            artifact_store=store,
            file_path=str(path),
            study_or_trial=frozen,
            storage=storage,
            mimetype=mimetype,
            encoding=None,  # a .tar.gz is a file to save, not a body to decompress
        )
        uploaded.append(TrialArtifact(artifact_id, path.name, mimetype))

    record = final_dir / RECORD_NAME
    if record.is_file():
        put(record, "application/json")
    limit = float(os.environ.get(ENV_MAX_ARCHIVE_MB, DEFAULT_MAX_ARCHIVE_MB))
    size = _folder_mb(final_dir)
    if size > limit:
        storage.set_trial_user_attr(
            trial_id,
            ARTIFACT_ERROR,
            f"final folder is {size:.0f} MB, over {ENV_MAX_ARCHIVE_MB}={limit:g}: not archived; "
            f"it stays at {final_dir}",
        )
        return uploaded
    with tempfile.TemporaryDirectory(prefix="hpsearch-artifact-") as tmp:
        archive = Path(tmp) / archive_name(number)
        with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
            for path in sorted(final_dir.iterdir()):
                tar.add(path, arcname=path.name)
        put(archive, "application/gzip")
    return uploaded


def trial_artifacts(storage: BaseStorage, trial_id: int) -> list[TrialArtifact]:
    """The artifacts uploaded to a trial (newest upload order is not kept by Optuna)."""
    attrs = storage.get_trial_system_attrs(trial_id)
    out = []
    for key, value in attrs.items():
        if key.startswith(ARTIFACTS_PREFIX):
            meta = json.loads(value) if isinstance(value, str) else value
            out.append(TrialArtifact(meta["artifact_id"], meta["filename"], meta["mimetype"]))
    return sorted(out, key=lambda a: a.filename)


def study_artifact_dirs(storage: BaseStorage) -> list[Path]:
    """The artifacts folder of every hpsearch study in ``storage``."""
    dirs = []
    for study in storage.get_all_studies():
        root = study.user_attrs.get(A.STUDY_CHECKPOINT_ROOT)
        if root:
            dirs.append(StudyPaths(Path(str(root)), study.study_name).artifacts_dir)
    return dirs


class StudyArtifactStore:
    """An ``ArtifactStore`` over every study's artifacts folder (reads) and one folder (writes).

    Artifact ids are UUIDs, so one id names one file whichever folder holds it. Folders of
    studies created after the server started are found on the first miss.
    """

    def __init__(self, storage: BaseStorage, write_dir: Path, extra_dirs: Iterable[Path] = ()):
        self.storage = storage
        self.write_dir = Path(write_dir)
        self._dirs: list[Path] = [self.write_dir, *map(Path, extra_dirs)]

    def _refresh(self) -> None:
        for folder in study_artifact_dirs(self.storage):
            if folder not in self._dirs:
                self._dirs.append(folder)

    def _find(self, artifact_id: str) -> FileSystemArtifactStore:
        for attempt in range(2):
            for folder in self._dirs:
                store = FileSystemArtifactStore(folder)
                if store._get_filepath(artifact_id).is_file():  # checks for path traversal
                    return store
            if attempt == 0:
                self._refresh()
        raise ArtifactNotFound(f"artifact {artifact_id} is in no study's artifacts folder")

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._find(artifact_id).open_reader(artifact_id)

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.write_dir.mkdir(parents=True, exist_ok=True)
        FileSystemArtifactStore(self.write_dir).write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        self._find(artifact_id).remove(artifact_id)


def extract_archive(store: Any, artifact: TrialArtifact, dest: Path) -> None:
    """Unpack a trial's final-folder archive from ``store`` into ``dest`` (safe paths only)."""
    dest.mkdir(parents=True, exist_ok=True)
    with store.open_reader(artifact.artifact_id) as body, tarfile.open(fileobj=body) as tar:
        tar.extractall(dest, filter="data")
