"""Typed models of a whole search space document and of a task.

``SearchSpace`` is what a YAML space validates into. ``TaskSpec`` says what one trial trains
(model, data, length); it comes from CLI flags or a ``task:`` section and is stored with the
study so that ``hpsearch resume`` needs nothing but the study name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from hpsearch.spaces._compute_budget import COMPUTE_BUDGET_SCHEMA, ComputeBudget
from hpsearch.spaces._configs import DEFAULT_EVAL_BATCH, DataFields, LengthFields
from hpsearch.spaces._fields import spec_field
from hpsearch.spaces._limits import (
    MAX_CPUS_PER_TRIAL,
    MAX_GPUS_PER_TRIAL,
    MAX_GRACE_S,
    MAX_HEARTBEAT_S,
    MAX_NAME_LENGTH,
    MIN_HEARTBEAT_S,
    NAME_PATTERN,
    RAY_GRANULARITY,
)
from hpsearch.spaces._params import Param, param_to_dict
from hpsearch.spaces._plugins import METHODS, PRUNERS, SAMPLERS, TASKS

Direction = Literal["minimize", "maximize"]
LrScaling = Literal["none", "linear", "sqrt"]
Distributed = Literal["ddp", "fsdp"]

REPORT_TO = ("tensorboard", "mlflow", "wandb")


@dataclass(frozen=True)
class ObjectiveSpec:
    """What a trial is scored by."""

    metric: str = spec_field(
        "eval_loss",
        doc="The evaluation metric to optimise: eval_loss, eval_perplexity (causal LM), "
        "eval_accuracy (classification), any eval_ metric.",
        pattern="^eval_",
    )
    direction: Direction = spec_field("minimize", doc="minimize or maximize the metric.")


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
    """When a trial stops on a plateau."""

    patience: int | None = spec_field(
        3,
        doc="Evaluations without improvement before a trial stops (null: off); the guides use 3-5.",
        minimum=1,
    )
    threshold: float = spec_field(0.0, doc="The minimum improvement that counts.", minimum=0)


@dataclass(frozen=True)
class ResourcesSpec:
    """What one trial is given."""

    gpus_per_trial: float = spec_field(
        1.0,
        doc="GPUs per trial: 0 (CPU trials); 0.0001 to 1, where a fraction such as 0.25 packs "
        f"several trials on one GPU; or an integer from 2 to {MAX_GPUS_PER_TRIAL}: one trial "
        "trains as that many data-parallel processes on GPUs of one node.",
        minimum=0,
        maximum=MAX_GPUS_PER_TRIAL,
        schema={
            "anyOf": [
                {"const": 0},
                {"minimum": RAY_GRANULARITY, "maximum": 1},
                {"type": "integer", "minimum": 2},
            ]
        },
    )
    cpus_per_trial: float = spec_field(
        1.0,
        doc="CPU cores per trial (also torch's thread count); per process when a trial spans "
        "several GPUs.",
        minimum=RAY_GRANULARITY,
        maximum=MAX_CPUS_PER_TRIAL,
    )
    memory_gb: float | None = spec_field(
        None,
        doc="Memory one trial may use, in GB (per GPU when it spans several); null: its share "
        "of the GPU (no check on CPU).",
        exclusive_minimum=0,
    )
    distributed: Distributed = spec_field(
        "ddp",
        doc="How a trial of gpus_per_trial >= 2 shares the work: ddp (each GPU holds the whole "
        "model, gradients are averaged) or fsdp (weights, gradients and optimizer states are "
        "sharded over the GPUs, for models that do not fit one).",
    )

    @property
    def devices(self) -> int:
        """Data-parallel devices (processes) one trial trains on (fractions share one device)."""
        return max(1, int(self.gpus_per_trial))


@dataclass(frozen=True)
class BatchSpec:
    """Learning-rate scaling with the effective batch size."""

    lr_scaling: LrScaling = spec_field(
        "none",
        doc="none, linear or sqrt: the learning rate is scaled by (effective batch / "
        "reference)^1 or ^0.5.",
    )
    reference_batch_size: int = spec_field(
        16,
        doc="The effective batch size at which the sampled learning rate applies unscaled.",
        minimum=1,
    )


@dataclass(frozen=True)
class RetrySpec:
    """Retries of trials whose worker or heartbeat was lost."""

    max_retries: int = spec_field(
        2,
        doc="Retries per trial after a lost worker or heartbeat (driver interruptions do not "
        "count).",
        minimum=0,
    )
    heartbeat_interval: float = spec_field(
        10.0,
        doc="Seconds between heartbeats.",
        minimum=MIN_HEARTBEAT_S,
        maximum=MAX_HEARTBEAT_S,
    )
    grace_period: float = spec_field(
        60.0,
        doc="Seconds without a heartbeat before a trial is reaped (at least 2 heartbeat "
        "intervals).",
        exclusive_minimum=0,
        maximum=MAX_GRACE_S,
    )


@dataclass(frozen=True)
class _TaskSource:
    """The task's kind, model and dataset (the first keys of a task)."""

    type: str = spec_field(
        "classification",
        doc="causal_lm, classification, simulated, or custom (the user's own training: "
        "script or trainer; default: classification for the demo, causal_lm with --model, "
        "custom with script or trainer).",
        choices=TASKS.names,
    )
    model: str | None = spec_field(
        None, doc="A local model folder or a hub id (e.g. Qwen/Qwen3-0.6B)."
    )
    dataset: str | None = spec_field(
        None,
        doc="A local .jsonl/.json/.csv/.parquet/.txt file, a folder (save_to_disk or data "
        "files) or a hub id.",
    )
    dataset_config: str | None = spec_field(None, doc="The hub dataset's config name.")


@dataclass(frozen=True)
class TaskSpec(LengthFields, DataFields, _TaskSource):
    """What a trial trains; defaults describe the built-in offline demo.

    The data and length keys are :class:`~hpsearch.spaces.DataFields` and
    :class:`~hpsearch.spaces.LengthFields`, shared with the trainer's settings.
    """

    per_device_eval_batch_size: int = spec_field(
        DEFAULT_EVAL_BATCH, doc="Evaluation batch size per device.", minimum=1
    )
    report_to: tuple[str, ...] = spec_field(
        (),
        doc="Experiment trackers: tensorboard, mlflow, wandb (a list, one name, or none).",
        choices=REPORT_TO,
        schema={
            "anyOf": [
                {"enum": [*REPORT_TO, "none"]},
                {"type": "array", "items": {"enum": list(REPORT_TO)}},
            ]
        },
    )
    demo: bool = spec_field(
        False,
        doc="The built-in offline demo (default: true when neither model nor dataset is set).",
    )
    simulated: dict[str, Any] = spec_field(
        doc="Options of the simulated trainer (task type simulated).", default_factory=dict
    )
    # Bring your own training (task type custom): exactly one of script and trainer.
    script: str | None = spec_field(
        None,
        doc="A training script run once per trial (hpsearch run --script); it calls "
        "trial_params() and adds TrialCallback() (docs/bring-your-own-training.md).",
    )
    script_args: tuple[str, ...] = spec_field(
        (),
        doc="Arguments passed to the script (after -- on the command line).",
        schema={"type": "array", "items": {"type": "string"}},
    )
    trainer: str | None = spec_field(
        None,
        doc="An entry point module:function that receives (params, output_dir) and returns a "
        "transformers.Trainer; hpsearch adds its callback and trains it.",
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
    )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["report_to"] = list(self.report_to)
        data["script_args"] = list(self.script_args)
        return data

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class SearchSpace:
    """A search space: what to tune, how to search, and what a trial may use."""

    name: str = spec_field(
        doc="The space's name: 1 to 100 letters, digits and _ . - starting with a letter or "
        "digit; the default study name is <name>-<model>. Default: the file name.",
        pattern=NAME_PATTERN,
        max_length=MAX_NAME_LENGTH,
    )
    params: tuple[Param, ...] = spec_field(
        doc="The parameters: an hpsearch knob or any transformers.TrainingArguments field, "
        "each a float, int, categorical or fixed definition (a bare value is fixed)."
    )
    description: str = spec_field("", doc="Shown by spaces list and in the dashboard's note.")
    method: str = spec_field(
        "lora",
        doc="lora, full (every weight trains) or qlora (4-bit NF4 base + LoRA).",
        choices=METHODS.names,
    )
    objective: ObjectiveSpec = spec_field(
        doc="The metric and direction trials are scored by.", default_factory=ObjectiveSpec
    )
    trials: int | None = spec_field(
        20,
        doc="Finished trials the study should reach (--trials overrides). With a "
        "compute_budget it applies only when written (or --trials given); null: no trial "
        "limit (needs a compute_budget).",
        minimum=1,
    )
    compute_budget: ComputeBudget | None = spec_field(
        None,
        doc="A budget in training compute, exactly one key: fbe (full-budget equivalents: "
        "steps / the task's max_steps), steps, or tokens (a task of fidelity tokens). No trial "
        "starts once it is used; running trials go on to their next pause or their end.",
        schema=COMPUTE_BUDGET_SCHEMA,
    )
    sampler: SamplerSpec = spec_field(
        doc="The Optuna sampler: a name or a dotted path package.module:Name, or a mapping "
        "with type and the sampler's constructor options.",
        default_factory=SamplerSpec,
        choices=SAMPLERS.names,
    )
    pruner: PrunerSpec = spec_field(
        doc="The Optuna pruner: a name or a dotted path package.module:Name, or a mapping "
        "with type and the pruner's constructor options (min_evaluations: N puts the first "
        "rung at the N-th evaluation).",
        default_factory=PrunerSpec,
        choices=PRUNERS.names,
    )
    early_stopping: EarlyStoppingSpec = spec_field(
        doc="Stop a trial on a plateau.", default_factory=EarlyStoppingSpec
    )
    resources: ResourcesSpec = spec_field(
        doc="GPUs, CPUs and memory per trial.", default_factory=ResourcesSpec
    )
    batch: BatchSpec = spec_field(
        doc="Learning-rate scaling with the effective batch.", default_factory=BatchSpec
    )
    retries: RetrySpec = spec_field(
        doc="Retries after a lost worker or heartbeat.", default_factory=RetrySpec
    )
    warm_start: tuple[dict[str, Any], ...] = spec_field(
        (),
        doc="Parameter sets that run first, in order (a partial set: the rest is sampled).",
    )
    task: dict[str, Any] = spec_field(
        doc="The task (model, data, length); command-line flags override it.",
        default_factory=dict,
    )

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
        if self.trials is not None:
            out["trials"] = self.trials
        if self.compute_budget is not None:
            out["compute_budget"] = self.compute_budget.to_dict()
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
