"""Typed models of a whole search space document and of a task.

``SearchSpace`` is what a YAML space validates into. ``TaskSpec`` says what one trial trains
(model, data, length); it comes from CLI flags or a ``task:`` section and is stored with the
study so that ``hpsearch resume`` needs nothing but the study name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from hpsearch.spaces._params import Param, param_to_dict

Method = Literal["lora", "full", "qlora"]
Direction = Literal["minimize", "maximize"]
TaskType = Literal["causal_lm", "classification", "simulated"]
Fidelity = Literal["steps", "tokens"]
LrScaling = Literal["none", "linear", "sqrt"]

SAMPLER_TYPES = ("tpe", "random", "grid", "cmaes", "gp")
PRUNER_TYPES = ("hyperband", "successive_halving", "median", "none")
METHODS = ("lora", "full", "qlora")
TASK_TYPES = ("causal_lm", "classification", "simulated")
DATA_FORMATS = ("auto", "text", "prompt_completion", "messages", "classification")


@dataclass(frozen=True)
class ObjectiveSpec:
    metric: str = "eval_loss"
    direction: Direction = "minimize"


@dataclass(frozen=True)
class SamplerSpec:
    type: str = "tpe"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PrunerSpec:
    type: str = "hyperband"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EarlyStoppingSpec:
    patience: int | None = 3
    threshold: float = 0.0


@dataclass(frozen=True)
class ResourcesSpec:
    gpus_per_trial: float = 1.0
    cpus_per_trial: float = 1.0
    memory_gb: float | None = None  # per-trial memory budget; None: the trial's GPU share

    @property
    def devices(self) -> int:
        """Data-parallel devices one trial trains on (fractions share one device)."""
        return max(1, int(self.gpus_per_trial))


@dataclass(frozen=True)
class BatchSpec:
    lr_scaling: LrScaling = "none"
    reference_batch_size: int = 16


@dataclass(frozen=True)
class RetrySpec:
    max_retries: int = 2
    heartbeat_interval: float = 10.0
    grace_period: float = 60.0


@dataclass(frozen=True)
class TaskSpec:
    """What a trial trains; defaults describe the built-in offline demo."""

    type: TaskType = "classification"
    model: str | None = None
    dataset: str | None = None
    dataset_config: str | None = None
    train_split: str = "train"
    eval_split: str | None = None
    eval_fraction: float = 0.1
    format: str = "auto"
    text_field: str = "text"
    prompt_field: str = "prompt"
    completion_field: str = "completion"
    messages_field: str = "messages"
    label_field: str = "label"
    max_seq_length: int = 128
    max_steps: int | None = None
    num_train_epochs: float = 1.0
    eval_steps: int = 10
    checkpoint_every: int = 1
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    per_device_eval_batch_size: int = 32
    fidelity: Fidelity = "steps"
    completion_only_loss: bool = False
    packing: bool = False
    chat_template: bool = True
    report_to: tuple[str, ...] = ()
    seed: int = 0
    demo: bool = False
    simulated: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["report_to"] = list(self.report_to)
        return data

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class SearchSpace:
    name: str
    params: tuple[Param, ...]
    description: str = ""
    method: Method = "lora"
    objective: ObjectiveSpec = field(default_factory=ObjectiveSpec)
    trials: int = 20
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    early_stopping: EarlyStoppingSpec = field(default_factory=EarlyStoppingSpec)
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)
    batch: BatchSpec = field(default_factory=BatchSpec)
    retries: RetrySpec = field(default_factory=RetrySpec)
    warm_start: tuple[dict[str, Any], ...] = ()
    task: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        for param in self.params:
            if param.name == name:
                return param
        return None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def is_conditional(self) -> bool:
        return any(p.when for p in self.params)

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form; ``load_space_dict(space.to_dict())`` round-trips."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["method"] = self.method
        out["objective"] = asdict(self.objective)
        out["trials"] = self.trials
        out["sampler"] = {"type": self.sampler.type, **self.sampler.options}
        out["pruner"] = {"type": self.pruner.type, **self.pruner.options}
        out["early_stopping"] = asdict(self.early_stopping)
        out["resources"] = asdict(self.resources)
        out["batch"] = asdict(self.batch)
        out["retries"] = asdict(self.retries)
        out["params"] = {p.name: param_to_dict(p) for p in self.params}
        if self.warm_start:
            out["warm_start"] = [dict(w) for w in self.warm_start]
        if self.task:
            out["task"] = dict(self.task)
        return out
