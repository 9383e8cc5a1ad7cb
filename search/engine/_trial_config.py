"""Map a space, a task and one sampled point to the trainer's :class:`TrialConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from hpsearch.spaces import (
    HPSEARCH_DEFAULTS,
    DataFields,
    LengthFields,
    ResolvedTrial,
    SearchSpace,
    TaskSpec,
    resolve_trial,
)
from hpsearch.storage import StudyPaths
from hpsearch.trainers import (
    CustomTraining,
    DataConfig,
    HyperParams,
    ModelConfig,
    RunPaths,
    ScheduleConfig,
    TrialConfig,
)


def model_config(space: SearchSpace, task: TaskSpec, resolved: ResolvedTrial | None) -> ModelConfig:
    knobs = resolved.knobs if resolved else HPSEARCH_DEFAULTS
    return ModelConfig(
        name_or_path=task.model,
        task_type=task.type,
        method=space.method,
        lora=resolved.lora if resolved else None,
        precision=str(knobs["precision"]),
        attn_implementation=str(knobs["attn_implementation"]),
        quant_compute_dtype=str(knobs["quant_compute_dtype"]),
    )


def data_config(task: TaskSpec, max_seq_length: int | None = None) -> DataConfig:
    shared = {f.name: getattr(task, f.name) for f in fields(DataFields)}
    shared["max_seq_length"] = max_seq_length or task.max_seq_length
    return DataConfig(source=task.dataset, config_name=task.dataset_config, **shared)


def schedule_config(
    space: SearchSpace, task: TaskSpec, epochs: float | None = None
) -> ScheduleConfig:
    shared = {f.name: getattr(task, f.name) for f in fields(LengthFields)}
    if epochs is not None:
        shared["num_train_epochs"] = epochs
    return ScheduleConfig(
        metric=space.objective.metric,
        greater_is_better=space.objective.direction == "maximize",
        early_stopping_patience=space.early_stopping.patience,
        early_stopping_threshold=space.early_stopping.threshold,
        **shared,
    )


def build_trial_config(
    *,
    space: SearchSpace,
    task: TaskSpec,
    params: Mapping[str, Any],
    study_name: str,
    number: int,
    paths: StudyPaths,
    resume_from: str | None = None,
    oom_downscale: int = 1,
    cpus: float = 1.0,
    gpu_fraction: float = 1.0,
) -> tuple[TrialConfig, ResolvedTrial]:
    resolved = resolve_trial(space, params, oom_downscale=oom_downscale)
    training_args = dict(resolved.training_args)
    epochs = training_args.pop("num_train_epochs", None)
    seed = int(training_args.pop("seed", task.seed))
    knobs = resolved.knobs
    config = TrialConfig(
        run_name=f"{study_name}-{number}",
        model=model_config(space, task, resolved),
        data=data_config(task, knobs.get("max_seq_length")),
        schedule=schedule_config(space, task, None if epochs is None else float(epochs)),
        hparams=HyperParams(
            per_device_train_batch_size=resolved.per_device_train_batch_size,
            gradient_accumulation_steps=resolved.gradient_accumulation_steps,
            per_device_eval_batch_size=max(1, task.per_device_eval_batch_size // oom_downscale),
            training_args=training_args,
            head_lr_multiplier=float(knobs["head_lr_multiplier"]),
            layer_lr_decay=float(knobs["layer_lr_decay"]),
            seed=seed,
        ),
        paths=RunPaths(
            checkpoints_dir=str(paths.checkpoints_dir(number)),
            final_dir=str(paths.adapter_dir(number)),
            resume_from=resume_from,
            logging_dir=(
                str(paths.study_dir / "tensorboard" / f"{study_name}-{number}")
                if "tensorboard" in task.report_to
                else None
            ),
        ),
        report_to=task.report_to,
        cpus=cpus,
        gpu_fraction=gpu_fraction,
        processes=space.resources.devices,
        distributed=space.resources.distributed,
        memory_limit_gb=space.resources.memory_gb,
        simulated=dict(task.simulated),
        custom=custom_training(space, task, resolved),
    )
    return config, resolved


_BATCH_NAMES = (
    "per_device_train_batch_size",
    "effective_batch_size",
    "gradient_accumulation_steps",
)


def custom_training(
    space: SearchSpace, task: TaskSpec, resolved: ResolvedTrial
) -> CustomTraining | None:
    """A custom task's script or entry point and the values its trial_params() returns."""
    if task.type != "custom":
        return None
    params: dict[str, Any] = dict(resolved.training_args)
    if any(space.param(name) is not None for name in _BATCH_NAMES):
        params["per_device_train_batch_size"] = resolved.per_device_train_batch_size
        params["gradient_accumulation_steps"] = resolved.gradient_accumulation_steps
    for name in space.param_names:  # knobs the space sets reach the script under their name
        if name in resolved.knobs:
            params[name] = resolved.knobs[name]
    return CustomTraining(
        script=task.script,
        script_args=task.script_args,
        entry_point=task.trainer,
        params=params,
    )
