"""The search engine: the driver, the budget, retries and reaping, trial workers and their pools,
and running a study from a request.
"""

from hpsearch.search.engine._budget import BudgetedAsker
from hpsearch.search.engine._driver import (
    Driver,
    DriverConfig,
    Interrupted,
    RunSummary,
    WorkerStartupError,
)
from hpsearch.search.engine._inprocess_pool import InProcessPool
from hpsearch.search.engine._optuna_reporter import OptunaReporter
from hpsearch.search.engine._placement import trials_that_fit, worker_resources
from hpsearch.search.engine._pool_base import Clock, WallClock, WorkerLost, WorkerPool
from hpsearch.search.engine._pools import POOL_NAMES
from hpsearch.search.engine._preflight import RESUME_NOTE_PREFIX, CheckpointDirError, resumable
from hpsearch.search.engine._ray_pool import (
    RayAddressError,
    RayConnectError,
    RayPool,
    WorkerPlanError,
    connect,
    disconnect,
    parse_ray_address,
)
from hpsearch.search.engine._reaper import (
    end_lost_trial,
    mark_for_retry,
    owner_token,
    reap_stale,
    repair,
)
from hpsearch.search.engine._run_checks import build_task, raise_if_invalid, validate_run
from hpsearch.search.engine._run_request import (
    DEFAULT_SPACE,
    InputError,
    RunRequest,
    default_study_name,
)
from hpsearch.search.engine._run_study import RunResult, execute
from hpsearch.search.engine._sim_pool import (
    SimClock,
    SimStep,
    SimulatedPool,
    SimulatedTrainer,
    TrialRecord,
)
from hpsearch.search.engine._trial_config import build_trial_config
from hpsearch.search.engine._worker import TrialOutcome, TrialTask

__all__ = [
    "DEFAULT_SPACE",
    "POOL_NAMES",
    "RESUME_NOTE_PREFIX",
    "BudgetedAsker",
    "CheckpointDirError",
    "Clock",
    "Driver",
    "DriverConfig",
    "InProcessPool",
    "InputError",
    "Interrupted",
    "OptunaReporter",
    "RayAddressError",
    "RayConnectError",
    "RayPool",
    "RunRequest",
    "RunResult",
    "RunSummary",
    "SimClock",
    "SimStep",
    "SimulatedPool",
    "SimulatedTrainer",
    "TrialOutcome",
    "TrialRecord",
    "TrialTask",
    "WallClock",
    "WorkerLost",
    "WorkerPlanError",
    "WorkerPool",
    "WorkerStartupError",
    "build_task",
    "build_trial_config",
    "connect",
    "default_study_name",
    "disconnect",
    "end_lost_trial",
    "execute",
    "mark_for_retry",
    "owner_token",
    "parse_ray_address",
    "raise_if_invalid",
    "reap_stale",
    "repair",
    "resumable",
    "trials_that_fit",
    "validate_run",
    "worker_resources",
]
