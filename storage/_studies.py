"""Create or load studies by name, safely under concurrency."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal, cast

import optuna
from optuna.storages import BaseStorage

from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError
from hpsearch.storage.optuna_internals import MAX_INDEXED_STRING_LENGTH

DEFAULT_STUDY_PREFIX = "hpsearch"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+=-]*$")


class StudyNameError(HpsearchError, ValueError):
    """A study name the storage cannot hold (checked before anything is written)."""

    exit_code = EXIT_BAD_INPUT


class StudyNotFoundError(HpsearchError, LookupError):
    """No study of that name exists in the storage."""

    hint = "list the studies with: hpsearch studies --storage URL"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, name: str, existing: list[str], storage_display: str) -> None:
        self.name = name
        self.existing = existing
        close = difflib.get_close_matches(name, existing, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listing = ", ".join(existing[:10]) + (" ..." if len(existing) > 10 else "")
        super().__init__(
            f"no study named {name!r} in {storage_display}{hint}; "
            + (f"existing studies: {listing}" if existing else "the storage has no studies")
        )


def validate_study_name(name: str) -> str:
    """Reject names over the storage's column limit or with control characters."""
    if not name:
        raise StudyNameError("the study name is empty; pass --study NAME")
    if len(name) > MAX_INDEXED_STRING_LENGTH:
        raise StudyNameError(
            f"study name is {len(name)} characters long; the storage allows at most "
            f"{MAX_INDEXED_STRING_LENGTH}"
        )
    if not _NAME_RE.match(name):
        raise StudyNameError(
            f"study name {name!r} has characters hpsearch does not accept; use letters, digits "
            "and _ . : @ + = - (starting with a letter or digit)"
        )
    return name


def default_study_name(space_name: str) -> str:
    """``hpsearch-<space>``: one default study per space, so a re-run continues it."""
    return f"{DEFAULT_STUDY_PREFIX}-{space_name}"


@dataclass(frozen=True)
class StudyHandle:
    study: optuna.Study
    created: bool


def create_or_load_study(
    storage: BaseStorage,
    name: str,
    direction: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> StudyHandle:
    """Create ``name`` or load it if it exists; safe when many processes race to create it."""
    validate_study_name(name)
    try:
        storage.get_study_id_from_name(name)
        existed = True
    except KeyError:
        existed = False
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        direction=cast(Literal["minimize", "maximize"], direction),
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    return StudyHandle(study=study, created=not existed)


def load_existing_study(
    storage: BaseStorage,
    name: str,
    storage_display: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    validate_study_name(name)
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        raise StudyNotFoundError(name, list_study_names(storage), storage_display) from None
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def list_study_names(storage: BaseStorage) -> list[str]:
    return sorted(s.study_name for s in storage.get_all_studies())


def study_exists(storage: BaseStorage, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True
