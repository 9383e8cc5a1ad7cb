"""The driver's configuration, the summary it returns, and the errors that end its run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import optuna

from hpsearch.search.engine._pool_base import WorkerPool
from hpsearch.search.records import Ledger, StudyMeta
from hpsearch.spaces.errors import EXIT_INTERRUPTED, EXIT_UNAVAILABLE, HpsearchError
from hpsearch.storage import ResilientRDBStorage, StorageLocation, StudyPaths

__all__ = ["DriverConfig", "Interrupted", "RunSummary", "WorkerStartupError"]


class WorkerStartupError(HpsearchError, RuntimeError):
    """Workers keep dying before they start a trial: the cluster cannot run this study."""

    hint = (
        "check the Ray workers' logs (ray logs) and that every node has hpsearch installed; "
        "running trials were handed over: hpsearch resume STUDY"
    )
    exit_code = EXIT_UNAVAILABLE


class Interrupted(HpsearchError):
    """SIGINT/SIGTERM: running trials were handed over to retries; resume continues them."""

    hint = "hpsearch resume STUDY"
    exit_code = EXIT_INTERRUPTED

    @property
    def message(self) -> str:
        return (
            "interrupted: running trials were handed over and continue from their "
            "last checkpoint on resume"
        )


@dataclass
class DriverConfig:
    location: StorageLocation
    storage: ResilientRDBStorage
    study: optuna.Study
    meta: StudyMeta
    paths: StudyPaths
    pool: WorkerPool
    first_eval_step: int
    max_step: int | None
    emit: Callable[[str], None] = print
    reap_interval: float = 5.0
    status_interval: float = 15.0
    # SIGINT/SIGTERM set a flag the loop turns into a hand-over (the CLI). Without: the
    # process's own handlers stay (a notebook's Ctrl-C raises KeyboardInterrupt, handed over too).
    handle_signals: bool = True


@dataclass
class RunSummary:
    ledger: Ledger
    elapsed: float
    lines: list[str] = field(default_factory=list)
