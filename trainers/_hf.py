"""One trial = one Hugging Face Trainer run (causal LM or sequence classification)."""

from __future__ import annotations

import dataclasses
import gc
import json
import time
from pathlib import Path
from typing import Any, cast

import torch
from transformers import (
    EarlyStoppingCallback,
    PrinterCallback,
    TrainerCallback,
    TrainerState,
    TrainingArguments,
    set_seed,
)
from transformers.trainer import TRAINING_ARGS_NAME

from hpsearch.trainers import _checkpoints, _distributed, _failpoints
from hpsearch.trainers._base import (
    CheckpointWriteError,
    ConfigError,
    OutOfMemoryError,
    Reporter,
    TrialConfig,
    TrialResult,
    TrialRunner,
)
from hpsearch.trainers._cache import WorkerCache
from hpsearch.trainers._callbacks import CheckpointCommitCallback, ObjectiveCallback, StatsCallback
from hpsearch.trainers._hub import resolve_model_path
from hpsearch.trainers._inspect import KnobsCallback, name_tensorboard_run
from hpsearch.trainers._memory import check_fits, estimate_memory
from hpsearch.trainers._models import (
    Precision,
    adapt,
    check_attention,
    check_method_hardware,
    count_parameters,
    device_kind,
    select_precision,
)
from hpsearch.trainers._runners import TRAINING_ARG_ALIASES
from hpsearch.trainers._stats import MemoryMeter
from hpsearch.trainers._tasks import hf_input_problems
from hpsearch.trainers._trainer import HpsTrainer

_TRAINING_ARG_FIELDS = {f.name for f in dataclasses.fields(TrainingArguments)}


def _passthrough(
    args: dict[str, Any], fields: set[str] | frozenset[str], kind: str = "a TrainingArguments"
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in args.items():
        renamed = TRAINING_ARG_ALIASES.get(key)
        name = renamed if renamed is not None and renamed in fields else key
        if name not in fields:
            raise ConfigError(f"{key!r} is not {kind} field of the installed version")
        out[name] = value
    return out


class _FailpointCallback(TrainerCallback):
    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        action = _failpoints.triggered("train.step", step=state.global_step, **self.context)
        if action == "kill":
            _failpoints.kill_self()
        if action == "oom":
            raise torch.OutOfMemoryError(
                f"CUDA out of memory (failpoint at step {state.global_step})"
            )


def build_training_args(
    config: TrialConfig, precision: Precision, sft_arguments: dict[str, Any] | None = None
) -> TrainingArguments:
    """``TrainingArguments`` of a classification trial; an ``SFTConfig`` (a subclass) of a
    causal-LM trial, with ``sft_arguments`` (the data's SFT fields)."""
    sched, hp = config.schedule, config.hparams
    kwargs: dict[str, Any] = dict(
        output_dir=config.paths.checkpoints_dir,
        per_device_train_batch_size=hp.per_device_train_batch_size,
        gradient_accumulation_steps=hp.gradient_accumulation_steps,
        per_device_eval_batch_size=hp.per_device_eval_batch_size,
        max_steps=sched.max_steps or -1,
        num_train_epochs=sched.num_train_epochs,
        eval_strategy="steps",
        eval_steps=sched.eval_steps,
        save_strategy="steps",
        save_steps=sched.eval_steps * sched.checkpoint_every,
        logging_strategy="steps",
        logging_steps=max(1, min(sched.eval_steps, 10)),
        logging_nan_inf_filter=False,
        load_best_model_at_end=True,
        metric_for_best_model=sched.metric,
        greater_is_better=sched.greater_is_better,
        save_total_limit=None,
        report_to=list(config.report_to) or "none",
        run_name=config.run_name,
        seed=hp.seed,
        data_seed=hp.seed,
        bf16=precision.bf16,
        fp16=precision.fp16,
        use_cpu=device_kind() == "cpu",
        dataloader_num_workers=0,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        restore_callback_states_from_checkpoint=True,
        log_level="warning",
    )
    if sft_arguments is None:
        return TrainingArguments(
            **kwargs, **_passthrough(dict(hp.training_args), _TRAINING_ARG_FIELDS)
        )
    from hpsearch.trainers._sft import SFT_FIELDS
    from hpsearch.trainers._sft import sft_arguments as build_sft

    space = _passthrough(dict(hp.training_args), SFT_FIELDS, "an SFTConfig (TRL)")
    return build_sft(dict(**kwargs, **space), sft_arguments)


def _accuracy_metrics(task_type: str) -> dict[str, Any]:
    if task_type != "classification":
        return {}

    def preprocess(logits: Any, labels: Any) -> Any:
        return (logits[0] if isinstance(logits, tuple) else logits).argmax(dim=-1)

    def compute(pred: Any) -> dict[str, float]:
        return {"accuracy": float((pred.predictions == pred.label_ids).mean())}

    return {"compute_metrics": compute, "preprocess_logits_for_metrics": preprocess}


class HFTrialRunner(TrialRunner):
    """Runs causal-LM and classification trials; keeps models and data cached per process."""

    def __init__(self) -> None:
        self.cache = WorkerCache()

    def validate(self, config: TrialConfig) -> list[str]:
        return hf_input_problems(config)

    def run(self, config: TrialConfig, reporter: Reporter) -> TrialResult:
        if _distributed.needs_launch(config):  # N ranks, each of which runs this method
            return _distributed.launch(config, reporter)
        started = time.perf_counter()
        torch.set_num_threads(max(1, int(config.cpus)))
        check_method_hardware(config.model, config.hparams.training_args.get("optim"))
        check_attention(config.model)
        precision = select_precision(config.model.precision)
        path = resolve_model_path(config.model)
        tokenizer = self.cache.tokenizer(path)
        data = self.cache.data(config.data, config.model.task_type, path, tokenizer)
        estimate = estimate_memory(
            config,
            path,
            num_labels=len(data.label_names) if data.label_names else None,
            compute_dtype=precision.name,
        )
        reporter.record(
            {
                "memory_estimate_gb": round(estimate.total_gb, 6),
                "memory_estimate": estimate.describe(),
            }
        )
        check_fits(estimate, config)  # before any weights are loaded
        base, new_modules = self.cache.model(
            path, config.model, data.label_names, compute_dtype=precision.name
        )
        set_seed(config.hparams.seed)  # adapter initialisation is part of the trial's seed
        net = adapt(base, config.model, new_modules=new_modules)
        trainable, total = count_parameters(net)
        load_seconds = time.perf_counter() - started
        reporter.record(
            {
                "trainable_params": trainable,
                "total_params": total,
                "device": _device_name(),
                "precision": precision.name,
                "load_time_s": round(load_seconds, 3),
            }
        )
        meter = MemoryMeter()
        context = {"trial": config.run_name.rsplit("-", 1)[-1], **_distributed.failpoint_context()}
        objective = ObjectiveCallback(reporter, config.schedule, context)
        checkpoints_dir = Path(config.paths.checkpoints_dir)
        callbacks: list[Any] = [
            objective,
            CheckpointCommitCallback(checkpoints_dir, objective, context),
            StatsCallback(
                reporter,
                config.hparams.per_device_train_batch_size
                * config.hparams.gradient_accumulation_steps,
                meter,
            ),
            _FailpointCallback(context),
            KnobsCallback(reporter),
        ]
        if config.schedule.early_stopping_patience:
            callbacks.append(
                EarlyStoppingCallback(
                    config.schedule.early_stopping_patience,
                    config.schedule.early_stopping_threshold,
                )
            )
        trainer_cls = HpsTrainer
        if data.sft_arguments is not None:  # causal LM: TRL tokenises, masks, packs, collates
            from hpsearch.trainers._sft import HpsSFTTrainer

            trainer_cls = HpsSFTTrainer
        trainer = trainer_cls(
            model=net,
            args=build_training_args(config, precision, data.sft_arguments),
            train_dataset=data.train,
            eval_dataset=data.eval,
            data_collator=data.collator,
            processing_class=data.tokenizer or tokenizer,
            callbacks=callbacks,
            new_modules=new_modules,
            head_lr_multiplier=config.hparams.head_lr_multiplier,
            layer_lr_decay=config.hparams.layer_lr_decay,
            failpoint_context=context,
            **_accuracy_metrics(config.model.task_type),
        )
        trainer.remove_callback(PrinterCallback)  # progress goes to the reporter, not stdout
        if data.sft_arguments is not None:
            from trl import SFTTrainer

            from hpsearch.trainers._sft import sft_summary

            reporter.record({"sft": sft_summary(cast("SFTTrainer", trainer))})
        name_tensorboard_run(trainer, config.paths.logging_dir)
        meter.reset()
        train_started = time.perf_counter()
        try:
            finished = _finished_state(config.paths.resume_from)
            if finished is not None:
                # The predecessor trained to the end but died before reporting: nothing is left
                # to train (HF would run one step past max_steps); restore its best weights.
                trainer.state = finished
                trainer._load_from_checkpoint(
                    finished.best_model_checkpoint or str(config.paths.resume_from)
                )
            else:
                trainer.train(resume_from_checkpoint=config.paths.resume_from)
                if not objective.history:  # too short for a single scheduled evaluation
                    trainer.evaluate()
        except torch.OutOfMemoryError as exc:
            raise OutOfMemoryError(
                f"out of memory at step {trainer.state.global_step} with "
                f"per-device batch {config.hparams.per_device_train_batch_size}"
                f": {str(exc).splitlines()[0]}",
                step=trainer.state.global_step,
            ) from None
        finally:
            train_seconds = time.perf_counter() - train_started
        try:
            return self._finish(
                config, trainer, objective, callbacks[2], meter, path, load_seconds, train_seconds
            )
        finally:
            del trainer, net
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _finish(
        self,
        config: TrialConfig,
        trainer: HpsTrainer,
        objective: ObjectiveCallback,
        stats: StatsCallback,
        meter: MemoryMeter,
        model_path: str,
        load_seconds: float,
        train_seconds: float,
    ) -> TrialResult:
        state = trainer.state
        if state.best_metric is not None:  # HF's view includes evaluations before a resume
            best_value = float(state.best_metric)
            best_step = int(state.best_global_step or state.global_step)
        else:
            best_step, best_value = min(
                objective.history,
                key=lambda sv: -sv[1] if config.schedule.greater_is_better else sv[1],
            )
        eval_logs = [e for e in state.log_history if config.schedule.metric in e]
        if _distributed.is_main():
            _checkpoints.finalize(
                Path(config.paths.checkpoints_dir),
                greater_is_better=config.schedule.greater_is_better,
            )
        result = TrialResult(
            status="pruned" if objective.pruned_at is not None else "complete",
            value=best_value,
            best_step=best_step,
            last_step=objective.fidelity_step(state),
            metrics={
                k: float(v)
                for k, v in (eval_logs[-1] if eval_logs else {}).items()
                if k.startswith("eval_") and isinstance(v, (int, float))
            },
        )
        if objective.pruned_at is not None:
            result.reason = objective.stop_reason()
        elif state.max_steps and state.global_step < state.max_steps:
            result.reason = (
                f"early stopping at step {state.global_step}: no improvement in "
                f"{config.schedule.early_stopping_patience} evaluations"
            )
        if result.status == "complete":
            final = Path(config.paths.final_dir)
            try:
                _distributed.write_dir_once(
                    final,
                    lambda tmp: _save_final(
                        trainer, tmp, config, model_path, best_value, best_step
                    ),
                )
            except Exception as exc:
                raise CheckpointWriteError(_checkpoints.describe_write_error(exc, final)) from exc
            result.final_dir = config.paths.final_dir
        result.stats = {
            **stats.rates(state),
            "peak_memory_mb": meter.peak_mb(),
            "peak_memory_kind": meter.kind,
            "memory_growth_mb": meter.growth_mb(),
            "load_time_s": round(load_seconds, 3),
            "train_time_s": round(train_seconds - objective.eval_seconds, 3),
            "eval_time_s": round(objective.eval_seconds, 3),
            "device": _device_name(),
            "lr_groups": {str(k): v for k, v in trainer.lr_groups.items()},
            **objective.pause_stats(Path(config.paths.checkpoints_dir)),
        }
        return result


def _finished_state(checkpoint: str | None) -> TrainerState | None:
    """The checkpoint's trainer state if it already reached its last step, else None."""
    if checkpoint is None:
        return None
    path = Path(checkpoint) / "trainer_state.json"
    if not path.is_file():
        return None
    state = TrainerState.load_from_json(str(path))
    return state if state.max_steps and state.global_step >= state.max_steps else None


def _save_final(
    trainer: HpsTrainer, folder: Path, config: TrialConfig, model_path: str, value: float, step: int
) -> None:
    """The best weights (adapter or full model), tokenizer and the exact settings used.

    Only safetensors and JSON: HF's ``save_model`` also pickles the TrainingArguments
    (``training_args.bin``, loadable only with ``weights_only=False``); they are kept as JSON
    in ``hpsearch_trial.json`` instead.
    """
    trainer.save_model(str(folder))  # every rank: FSDP gathers the weights
    if not _distributed.is_main():
        return
    (folder / TRAINING_ARGS_NAME).unlink(missing_ok=True)
    peft_config = getattr(trainer.model, "peft_config", None)
    record = {
        "base_model": model_path,
        "method": config.model.method,
        "task_type": config.model.task_type,
        "objective": {"metric": config.schedule.metric, "value": value, "step": step},
        "training_arguments": trainer.args.to_dict(),
        "lora_config": ({k: v.to_dict() for k, v in peft_config.items()} if peft_config else None),
        "trial_config": config.to_dict(),
    }
    (folder / "hpsearch_trial.json").write_text(json.dumps(record, indent=2, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def _device_name() -> str:
    if torch.cuda.is_available():
        return f"cuda:{torch.cuda.current_device()} {torch.cuda.get_device_name()}"
    return "cpu"
