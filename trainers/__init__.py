"""One trial = one training run behind a small reporter interface.

This layer knows nothing of Optuna or Ray. The search layer hands a :class:`TrialConfig` and a
:class:`Reporter` to :func:`runner_for` 's runner and maps the :class:`TrialResult` or the
:class:`TrialError` it gets back to a trial state.
"""

from hpsearch.trainers import _failpoints as failpoints
from hpsearch.trainers._base import (
    CheckpointWriteError,
    ConfigError,
    DataConfig,
    DatasetError,
    HyperParams,
    ModelConfig,
    ModelNotFoundError,
    NonFiniteLossError,
    NullReporter,
    OutOfMemoryError,
    Reporter,
    RunPaths,
    ScheduleConfig,
    TrialConfig,
    TrialError,
    TrialResult,
    TrialRunner,
    UnsupportedHardwareError,
)
from hpsearch.trainers._checkpoints import Checkpoint, is_complete, newest_complete
from hpsearch.trainers._checkpoints import finalize as finalize_checkpoints
from hpsearch.trainers._distributed import RankFailedError
from hpsearch.trainers._memory import MemoryEstimate, MemoryEstimateError, estimate_memory
from hpsearch.trainers._runners import input_problems, runner_for, training_argument_names

__all__ = [
    "Checkpoint",
    "CheckpointWriteError",
    "ConfigError",
    "DataConfig",
    "DatasetError",
    "HyperParams",
    "MemoryEstimate",
    "MemoryEstimateError",
    "ModelConfig",
    "ModelNotFoundError",
    "NonFiniteLossError",
    "NullReporter",
    "OutOfMemoryError",
    "RankFailedError",
    "Reporter",
    "RunPaths",
    "ScheduleConfig",
    "TrialConfig",
    "TrialError",
    "TrialResult",
    "TrialRunner",
    "UnsupportedHardwareError",
    "estimate_memory",
    "failpoints",
    "finalize_checkpoints",
    "input_problems",
    "is_complete",
    "newest_complete",
    "runner_for",
    "training_argument_names",
]
