"""One trial = one training run behind a small reporter interface.

This layer knows nothing of Optuna or Ray. The search layer hands a :class:`TrialConfig` and a
:class:`Reporter` to :func:`runner_for` 's runner and maps the :class:`TrialResult` or the
:class:`TrialError` it gets back to a trial state.
"""

import importlib
from typing import Any

from hpsearch.trainers import _failpoints as failpoints
from hpsearch.trainers._base import (
    CheckpointWriteError,
    ConfigError,
    CustomTraining,
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
from hpsearch.trainers._checkpoints import MARKER as CHECKPOINT_MARKER
from hpsearch.trainers._checkpoints import (
    Checkpoint,
    complete_checkpoints,
    is_complete,
    list_checkpoints,
    newest_complete,
)
from hpsearch.trainers._checkpoints import commit as commit_checkpoint
from hpsearch.trainers._checkpoints import finalize as finalize_checkpoints
from hpsearch.trainers._data import RawData, load_raw, validate_data
from hpsearch.trainers._demo import DEMO_PACKAGES, demo_model_path, demo_records
from hpsearch.trainers._distributed import RankFailedError
from hpsearch.trainers._hub import resolve_model_path
from hpsearch.trainers._memory import MemoryEstimate, MemoryEstimateError, estimate_memory
from hpsearch.trainers._runners import (
    TRAINING_ARG_ALIASES,
    input_problems,
    runner_for,
    training_argument_names,
)
from hpsearch.trainers._script_channel import ENV as TRIAL_ENV
from hpsearch.trainers._script_channel import TrialSpec
from hpsearch.trainers._script_params import TrialParams, trial_params
from hpsearch.trainers._script_runner import ScriptError

# Public names whose modules import torch: loaded on first use, so that importing this package
# (the driver does) stays free of torch and transformers.
_HEAVY = {
    "evaluate_saved": "hpsearch.trainers._evaluate",
    "load_tokenizer": "hpsearch.trainers._models",
    "lr_multipliers": "hpsearch.trainers._trainer",
    "HpsTrainer": "hpsearch.trainers._trainer",
    "build_training_args": "hpsearch.trainers._hf",
    "adapt": "hpsearch.trainers._models",
    "load_model": "hpsearch.trainers._models",
    "select_precision": "hpsearch.trainers._models",
    "HpsSFTTrainer": "hpsearch.trainers._sft",
    "sft_data": "hpsearch.trainers._sft",
    "sft_arguments": "hpsearch.trainers._sft",
    "sft_summary": "hpsearch.trainers._sft",
    "tiled_head_runs_in_triton": "hpsearch.trainers._sft",
    "TrialCallback": "hpsearch.trainers._trial_callback",  # transformers: only when a script asks
}


def __getattr__(name: str) -> Any:
    module = _HEAVY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "CHECKPOINT_MARKER",
    "DEMO_PACKAGES",
    "TRAINING_ARG_ALIASES",
    "TRIAL_ENV",
    "Checkpoint",
    "CheckpointWriteError",
    "ConfigError",
    "CustomTraining",
    "DataConfig",
    "DatasetError",
    "HpsSFTTrainer",
    "HpsTrainer",
    "HyperParams",
    "MemoryEstimate",
    "MemoryEstimateError",
    "ModelConfig",
    "ModelNotFoundError",
    "NonFiniteLossError",
    "NullReporter",
    "OutOfMemoryError",
    "RankFailedError",
    "RawData",
    "Reporter",
    "RunPaths",
    "ScheduleConfig",
    "ScriptError",
    "TrialCallback",
    "TrialConfig",
    "TrialError",
    "TrialParams",
    "TrialResult",
    "TrialRunner",
    "TrialSpec",
    "UnsupportedHardwareError",
    "adapt",
    "build_training_args",
    "commit_checkpoint",
    "complete_checkpoints",
    "demo_model_path",
    "demo_records",
    "estimate_memory",
    "evaluate_saved",
    "failpoints",
    "finalize_checkpoints",
    "input_problems",
    "is_complete",
    "list_checkpoints",
    "load_model",
    "load_raw",
    "load_tokenizer",
    "lr_multipliers",
    "newest_complete",
    "resolve_model_path",
    "runner_for",
    "select_precision",
    "sft_arguments",
    "sft_data",
    "sft_summary",
    "tiled_head_runs_in_triton",
    "training_argument_names",
    "trial_params",
    "validate_data",
]
