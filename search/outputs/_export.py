"""Export the best trial: its adapter (or model), tokenizer and the exact settings used.

Only safetensors and JSON, no pickle: the TrainingArguments are ``training_arguments.json``.

The trial's final folder (user attribute ``adapter_dir``) holds the weights, the tokenizer and
``hpsearch_trial.json``. When that folder is not on this machine (it lives on a cluster node's
disk), the archive the worker uploaded to the dashboard's artifact store is used instead.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch.search.outputs._artifacts import (
    ARCHIVE_SUFFIX,
    RECORD_NAME,
    StudyArtifactStore,
    extract_archive,
    trial_artifacts,
)
from hpsearch.search.records import attributes as A
from hpsearch.search.records import best_trial
from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError
from hpsearch.storage import StudyPaths, storage_of, trial_id_of

COMPLETE_MARKER = "hpsearch-complete.json"  # the trainer's atomic-commit marker
# HF's pickled TrainingArguments (needs weights_only=False to load), in final folders written
# before hpsearch removed it; exports carry them as training_arguments.json instead.
PICKLED_ARGS = "training_args.bin"


class NoBestTrialError(HpsearchError, LookupError):
    """The study has no complete trial yet."""

    hint = "watch the study with: hpsearch status STUDY"
    exit_code = EXIT_BAD_INPUT


class ExportError(HpsearchError, ValueError):
    """The best trial's files cannot be exported (missing folder, non-empty target)."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Exported:
    folder: Path
    trial: FrozenTrial
    source: str  # the final folder, or "artifact store"
    files: list[str]


def require_best(study: optuna.Study) -> FrozenTrial:
    best = best_trial(study)
    if best is None:
        raise NoBestTrialError(
            f"study {study.study_name!r} has no complete trial yet, so there is no best "
            "configuration"
        )
    return best


def _check_target(dest: Path) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ExportError(f"export folder {dest} exists and is not empty; pass a new folder")
    if not dest.parent.is_dir():  # only the export folder itself is created
        raise ExportError(
            f"export folder {dest}: its parent {dest.parent} is not an existing folder; create it "
            "first or pass a folder inside an existing one"
        )


def _from_artifacts(study: optuna.Study, trial: FrozenTrial, dest: Path) -> bool:
    archives = [
        a
        for a in trial_artifacts(storage_of(study), trial_id_of(trial))
        if a.filename.endswith(ARCHIVE_SUFFIX)
    ]
    if not archives:
        return False
    root = study.user_attrs.get(A.STUDY_CHECKPOINT_ROOT)
    write_dir = StudyPaths(Path(str(root or ".")), study.study_name).artifacts_dir
    store = StudyArtifactStore(storage_of(study), write_dir)
    extract_archive(store, archives[-1], dest)
    return True


def _settings_files(dest: Path) -> None:
    """Split the trial record into TrainingArguments and LoraConfig JSON files."""
    record_path = dest / RECORD_NAME
    if not record_path.is_file():
        return
    record: dict[str, Any] = json.loads(record_path.read_text())
    (dest / "training_arguments.json").write_text(
        json.dumps(record.get("training_arguments") or {}, indent=2, sort_keys=True)
    )
    lora = record.get("lora_config")
    if lora:
        only = next(iter(lora.values())) if len(lora) == 1 else lora
        (dest / "lora_config.json").write_text(json.dumps(only, indent=2, sort_keys=True))


def export_best(study: optuna.Study, dest: Path, metric: str = "value") -> Exported:
    """Write the best trial's final folder plus ``best_trial.json`` into ``dest``."""
    trial = require_best(study)
    dest = dest.expanduser().resolve()
    _check_target(dest)
    final = trial.user_attrs.get(A.ADAPTER_DIR)
    source = str(final)
    tmp = dest.with_name(f".{dest.name}.exporting")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if final and Path(str(final)).is_dir():
            shutil.copytree(str(final), tmp, ignore=shutil.ignore_patterns(PICKLED_ARGS))
        elif _from_artifacts(study, trial, tmp):
            source = "artifact store"
        else:
            where = f"its folder {final} is not on this machine" if final else "it saved none"
            raise ExportError(
                f"trial #{trial.number} has no files to export: {where} and no archive was "
                "uploaded to the artifact store; run this where the checkpoint folder is"
            )
        (tmp / COMPLETE_MARKER).unlink(missing_ok=True)
        (tmp / PICKLED_ARGS).unlink(missing_ok=True)  # from an archive uploaded before
        _settings_files(tmp)
        summary = {
            "study": study.study_name,
            "trial": trial.number,
            "metric": metric,
            "value": trial.value,
            "params": trial.params,
            "user_attrs": trial.user_attrs,
            "source": source,
        }
        (tmp / "best_trial.json").write_text(json.dumps(summary, indent=2, default=str))
        if dest.exists():
            dest.rmdir()
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    files = sorted(p.name for p in dest.iterdir())
    return Exported(dest, trial, source, files)
