"""Map a space, a task and one sampled point to the trainer's :class:`TrialConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hpsearch.spaces import ResolvedTrial, SearchSpace, TaskSpec, resolve_trial
from hpsearch.storage import StudyPaths
from hpsearch.trainers import (
    DataConfig,
    HyperParams,
    ModelConfig,
    RunPaths,
    ScheduleConfig,
    TrialConfig,
)


def model_config(space: SearchSpace, task: TaskSpec, resolved: ResolvedTrial | None) -> ModelConfig:
    knobs = resolved.knobs if resolved else {}
    return ModelConfig(
        name_or_path=task.model,
        task_type=task.type,
        method=space.method,
        lora=resolved.lora if resolved else None,
        precision=str(knobs.get("precision", "auto")),
        attn_implementation=str(knobs.get("attn_implementation", "sdpa")),
        quant_compute_dtype=str(knobs.get("quant_compute_dtype", "bf16")),
    )


def data_config(task: TaskSpec, max_seq_length: int | None = None) -> DataConfig:
    return DataConfig(
        source=task.dataset,
        config_name=task.dataset_config,
        train_split=task.train_split,
        eval_split=task.eval_split,
        eval_fraction=task.eval_fraction,
        format=task.format,
        text_field=task.text_field,
        prompt_field=task.prompt_field,
        completion_field=task.completion_field,
        messages_field=task.messages_field,
        label_field=task.label_field,
        max_seq_length=max_seq_length or task.max_seq_length,
        max_train_samples=task.max_train_samples,
        max_eval_samples=task.max_eval_samples,
        completion_only_loss=task.completion_only_loss,
        packing=task.packing,
        chat_template=task.chat_template,
        seed=task.seed,
    )


def schedule_config(
    space: SearchSpace, task: TaskSpec, epochs: float | None = None
) -> ScheduleConfig:
    return ScheduleConfig(
        max_steps=task.max_steps,
        num_train_epochs=epochs if epochs is not None else task.num_train_epochs,
        eval_steps=task.eval_steps,
        checkpoint_every=task.checkpoint_every,
        metric=space.objective.metric,
        greater_is_better=space.objective.direction == "maximize",
        early_stopping_patience=space.early_stopping.patience,
        early_stopping_threshold=space.early_stopping.threshold,
        fidelity=task.fidelity,
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
            head_lr_multiplier=float(knobs.get("head_lr_multiplier", 1.0)),
            layer_lr_decay=float(knobs.get("layer_lr_decay", 1.0)),
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
    )
    return config, resolved
