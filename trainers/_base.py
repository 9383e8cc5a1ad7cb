"""The trainer contract: what one trial is given, how it reports, and what it returns.

A trial runner receives a :class:`TrialConfig` and a :class:`Reporter`, trains, and returns a
:class:`TrialResult` or raises a :class:`TrialError` subclass naming the failure class. It knows
nothing of Optuna or Ray: the search layer implements :class:`Reporter` on top of an Optuna
trial and maps results and errors to trial states.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from hpsearch.spaces import DEFAULT_EVAL_BATCH, DataConfig, ModelConfig, ScheduleConfig
from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError


class Reporter(Protocol):
    """How a running trial talks to the search: metric per evaluation, prune checks, stats."""

    def report(self, step: int, value: float) -> None:
        """Record the objective ``value`` at ``step`` (optimizer steps, or tokens seen)."""

    def should_prune(self) -> bool:
        """True when the search wants this trial stopped now."""

    def pausing(self) -> bool:
        """True when a stop asked by ``should_prune`` is a *pause*: the trainer commits a
        checkpoint at this step before it stops, so that a successor trial (the search promoting
        this configuration later) continues from it. A reporter without this method never
        pauses (the trainers call it through ``getattr``)."""

    def record(self, attrs: Mapping[str, Any]) -> None:
        """Publish live per-trial attributes (throughput, memory, ...)."""


class NullReporter:
    """A reporter for standalone runs: keeps the values, never prunes."""

    def __init__(self) -> None:
        self.values: dict[int, float] = {}
        self.attrs: dict[str, Any] = {}

    def report(self, step: int, value: float) -> None:
        self.values[step] = value

    def should_prune(self) -> bool:
        return False

    def pausing(self) -> bool:
        return False

    def record(self, attrs: Mapping[str, Any]) -> None:
        self.attrs.update(attrs)


@dataclass(frozen=True)
class HyperParams:
    """Resolved optimisation settings of one trial."""

    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    per_device_eval_batch_size: int = DEFAULT_EVAL_BATCH
    training_args: Mapping[str, Any] = field(default_factory=dict)
    head_lr_multiplier: float = 1.0
    layer_lr_decay: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class RunPaths:
    """Where the trial writes, and the checkpoint it continues from (a retry)."""

    checkpoints_dir: str
    final_dir: str
    resume_from: str | None = None
    logging_dir: str | None = None  # TensorBoard run folder, named after study and trial


@dataclass(frozen=True)
class CustomTraining:
    """The user's own training (task type ``custom``): a script or an entry point."""

    script: str | None = None  # an absolute path, run as ``python script *script_args``
    script_args: tuple[str, ...] = ()
    entry_point: str | None = None  # module:function returning a transformers.Trainer
    params: Mapping[str, Any] = field(default_factory=dict)  # the trial's sampled values


@dataclass(frozen=True)
class TrialConfig:
    run_name: str
    model: ModelConfig
    data: DataConfig
    schedule: ScheduleConfig
    hparams: HyperParams
    paths: RunPaths
    report_to: tuple[str, ...] = ()
    cpus: float = 1.0
    gpu_fraction: float = 1.0  # this trial's share of its GPU (Ray's fractional GPUs)
    processes: int = 1  # data-parallel ranks (resources.gpus_per_trial: N, one GPU each)
    distributed: str = "ddp"  # ddp or fsdp, when processes > 1
    memory_limit_gb: float | None = None  # None: the GPU share; no check on CPU
    simulated: Mapping[str, Any] = field(default_factory=dict)
    custom: CustomTraining | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrialResult:
    """How a trial ended when it was not a failure."""

    status: Literal["complete", "pruned"]
    value: float | None
    best_step: int | None
    last_step: int
    reason: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    final_dir: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


class TrialError(HpsearchError):
    """A trial failed. ``kind`` names its failure class (the search's failure table
    says what the search does with it: trial state, constraint, retry rule).

    Raised before a study is written (the driver's checks), it is the user's model or data.
    """

    kind = "error"
    retryable = False  # as the failure table says (tests/search/test_failures.py pins it)
    hint = "fix --model/--dataset (nothing was written to the study)"
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, *, step: int | None = None) -> None:
        super().__init__(message)
        self.step = step


class ConfigError(TrialError):
    """A problem in the user's model, data or configuration (never retried)."""

    kind = "config"


class ModelNotFoundError(ConfigError):
    kind = "model_not_found"


class DatasetError(ConfigError):
    kind = "dataset"


class UnsupportedHardwareError(ConfigError):
    """The configuration needs hardware the worker lacks (QLoRA or 8-bit optimisers on CPU)."""

    kind = "unsupported_hardware"


class NonFiniteLossError(TrialError):
    """The loss became NaN or infinite: the configuration diverged (never retried)."""

    kind = "non_finite_loss"


class OutOfMemoryError(TrialError):
    """The accelerator ran out of memory (the search retries with a smaller per-device batch)."""

    kind = "oom"
    retryable = True


class CheckpointWriteError(TrialError):
    """A checkpoint could not be written (disk full, permissions); older ones are intact."""

    kind = "checkpoint_write"


class TrialRunner(abc.ABC):
    """A plug-in that runs one kind of trial (HF causal LM / classification, simulated)."""

    @abc.abstractmethod
    def run(self, config: TrialConfig, reporter: Reporter) -> TrialResult:
        """Train one trial; report at every evaluation; stop when the reporter says prune."""

    def validate(self, config: TrialConfig) -> list[str]:
        """Problems that make ``config`` impossible to run, found without training."""
        return []
