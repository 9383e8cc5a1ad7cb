"""``hpsearch run`` and ``hpsearch resume``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hpsearch.search.cli import _args
from hpsearch.search.cli._common import add_storage_flag, emit
from hpsearch.search.cli.dashboard import add_run_flags, run_options
from hpsearch.spaces import DATA_FORMATS, TASKS

# CLI flag -> task field. Only flags the user gave override the space's task section.
_TASK_FLAGS = {
    "model": "model",
    "dataset": "dataset",
    "dataset_config": "dataset_config",
    "task_type": "type",
    "format": "format",
    "text_field": "text_field",
    "prompt_field": "prompt_field",
    "completion_field": "completion_field",
    "messages_field": "messages_field",
    "label_field": "label_field",
    "train_split": "train_split",
    "eval_split": "eval_split",
    "max_seq_length": "max_seq_length",
    "max_steps": "max_steps",
    "epochs": "num_train_epochs",
    "eval_steps": "eval_steps",
    "checkpoint_every": "checkpoint_every",
    "max_train_samples": "max_train_samples",
    "max_eval_samples": "max_eval_samples",
    "fidelity": "fidelity",
    "chat_template": "chat_template",
    "report_to": "report_to",
    "seed": "seed",
    "script": "script",
    "script_args": "script_args",
}


def _add_execution_flags(parser: argparse.ArgumentParser) -> None:
    add_storage_flag(parser)
    parser.add_argument(
        "--workers",
        type=_args.positive_int,
        metavar="N",
        help="parallel trials (default: as many as the cluster's GPUs, or CPUs, fit)",
    )
    parser.add_argument(
        "--address",
        type=_args.ray_address,
        metavar="auto|HOST:PORT",
        help="join an existing Ray cluster (default: $RAY_ADDRESS, else start a private local Ray)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=_args.text,
        metavar="DIR",
        help="checkpoint root; a shared filesystem on a cluster (default: beside "
        "the embedded database)",
    )
    parser.add_argument(
        "--trials",
        type=_args.positive_int,
        metavar="N",
        help="finished trials the study should reach (default: the space's)",
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="plain log lines even in a terminal (default there: a live view of the running "
        "trials, redrawn in place; plain lines when the output is a file or a pipe)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run (or continue) a study")
    run.add_argument(
        "--space",
        type=_args.text,
        metavar="NAME|FILE",
        help="built-in space name or YAML file (default: lora_small for a new study)",
    )
    run.add_argument(
        "--warm-start-from",
        type=_args.text,
        metavar="STUDY",
        help="run the best configuration of an earlier study (same storage) as trial 0",
    )
    run.add_argument(
        "--study",
        type=_args.text,
        metavar="NAME",
        help="study name; an existing study continues (default: SPACE-MODEL)",
    )
    _add_execution_flags(run)
    add_run_flags(run)
    task = run.add_argument_group("task (default: the built-in offline demo)")
    task.add_argument(
        "--model", type=_args.text, help="local model folder or hub id (e.g. Qwen/Qwen3-0.6B)"
    )
    task.add_argument(
        "--dataset",
        type=_args.text,
        help="local file/folder (jsonl, json, csv, parquet, txt) or hub id",
    )
    task.add_argument("--dataset-config", type=_args.text)
    task.add_argument("--task-type", choices=TASKS.names)
    task.add_argument("--format", choices=DATA_FORMATS)
    for name in ("text", "prompt", "completion", "messages", "label"):
        task.add_argument(f"--{name}-field", type=_args.text, metavar="COLUMN")
    task.add_argument("--train-split", type=_args.text)
    task.add_argument("--eval-split", type=_args.text)
    task.add_argument("--max-seq-length", type=_args.int_at_least(8), metavar="TOKENS")
    task.add_argument("--max-steps", type=_args.positive_int, metavar="N")
    task.add_argument("--epochs", type=_args.positive_float, metavar="N")
    task.add_argument("--eval-steps", type=_args.positive_int, metavar="N")
    task.add_argument("--checkpoint-every", type=_args.positive_int, metavar="EVALS")
    task.add_argument("--max-train-samples", type=_args.positive_int, metavar="N")
    task.add_argument("--max-eval-samples", type=_args.positive_int, metavar="N")
    task.add_argument("--fidelity", choices=("steps", "tokens"))
    task.add_argument("--completion-only-loss", action="store_true", default=None)
    task.add_argument("--packing", action="store_true", default=None)
    task.add_argument(
        "--no-chat-template",
        dest="chat_template",
        action="store_false",
        default=None,
        help="do not format prompt/completion and chat data with the model's chat template",
    )
    task.add_argument("--report-to", nargs="+", choices=("tensorboard", "mlflow", "wandb"))
    task.add_argument("--seed", type=_args.seed, metavar="N")
    task.add_argument(
        "--script",
        type=_args.text,
        metavar="TRAIN.PY",
        help="run your own Trainer script per trial (it uses hpsearch.trainers.trial_params and "
        "TrialCallback); its arguments follow --",
    )
    run.add_argument("script_args", nargs="*", metavar="-- SCRIPT_ARGS", help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help="continue a study until its budget is met")
    resume.add_argument("study", type=_args.text, metavar="STUDY")
    _add_execution_flags(resume)
    add_run_flags(resume)
    resume.set_defaults(func=cmd_resume)


def task_overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = {
        field: getattr(args, flag)
        for flag, field in _TASK_FLAGS.items()
        if getattr(args, flag, None) is not None
    }
    for flag in ("completion_only_loss", "packing"):
        if getattr(args, flag, None):
            out[flag] = True
    if not out.get("script_args"):  # words after -- without --script: the task check says so
        out.pop("script_args", None)
    if args.model and "type" not in out:
        out["type"] = "causal_lm"
    return out


def _command_line(args: argparse.Namespace) -> str:
    """The command the study records: the storage value in its password-free display form."""
    from hpsearch.storage import display_command

    return display_command(getattr(args, "argv", None) or sys.argv[1:])


def _live(args: argparse.Namespace) -> bool:
    from hpsearch.search.outputs import live_wanted

    return live_wanted(disabled=args.no_live)


def _finish(summary: Any) -> int:
    emit()
    for line in summary.lines:
        emit(line)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from hpsearch.search._api import run_request
    from hpsearch.search.engine import execute

    request = run_request(
        args.space,
        study=args.study,
        storage=args.storage,
        task=task_overrides(args),
        trials=args.trials,
        workers=args.workers,
        address=args.address,
        checkpoint_dir=args.checkpoint_dir,
        warm_start_from=args.warm_start_from,
        debug=args.debug,
        handle_signals=True,
        command=_command_line(args),
        dashboard=run_options(args),
        live=_live(args),
    )
    return _finish(execute(request, emit).summary)


def cmd_resume(args: argparse.Namespace) -> int:
    from hpsearch.search._api import resume_request
    from hpsearch.search.engine import execute

    request = resume_request(
        args.study,
        storage=args.storage,
        trials=args.trials,
        workers=args.workers,
        address=args.address,
        checkpoint_dir=args.checkpoint_dir,
        debug=args.debug,
        handle_signals=True,
        command=_command_line(args),
        dashboard=run_options(args),
        live=_live(args),
    )
    return _finish(execute(request, emit).summary)
