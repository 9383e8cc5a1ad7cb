"""``hpsearch best STUDY [--export DIR]``: the best parameters and value, and its adapter."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from hpsearch.search.cli import _args
from hpsearch.search.cli._common import add_storage_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "best", help="the best trial's parameters and value; --export writes its adapter"
    )
    parser.add_argument("study", type=_args.text, metavar="STUDY")
    add_storage_flag(parser)
    parser.add_argument(
        "--export",
        type=_args.text,
        metavar="DIR",
        help="write the best adapter (or model), its tokenizer and the exact TrainingArguments "
        "and LoraConfig into DIR (new or empty); load it with PeftModel.from_pretrained",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="with --export: load the exported adapter and evaluate it again on the task's "
        "eval set, and compare with the recorded value",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_best)


def _verify(folder: Path) -> Any:
    from hpsearch.trainers import evaluate_saved

    return evaluate_saved(folder)


def cmd_best(args: argparse.Namespace) -> int:
    from hpsearch.search._api import best_of
    from hpsearch.search.outputs import export_best
    from hpsearch.search.records import attributes as A

    study, best = best_of(args.study, storage=args.storage)
    space = study.user_attrs.get(A.STUDY_SPACE) or {}
    metric = str((space.get("objective") or {}).get("metric", "value"))
    if args.verify and not args.export:
        from hpsearch.search.engine import InputError

        raise InputError("--verify checks an exported adapter; pass --export DIR too")
    exported = export_best(study, Path(args.export), metric) if args.export else None
    check = _verify(exported.folder) if exported and args.verify else None
    if args.json:
        out = {
            "study": study.study_name,
            "trial": best.number,
            "metric": metric,
            "value": best.value,
            "params": best.params,
            "adapter_dir": best.user_attrs.get(A.ADAPTER_DIR),
            "exported_to": str(exported.folder) if exported else None,
            "verified_value": check.value if check else None,
        }
        emit(json.dumps(out))
        return 0
    emit(f"Study {study.study_name!r}: best trial #{best.number}, {metric} = {best.value:.6g}")
    width = max((len(name) for name in best.params), default=0)
    for name, value in best.params.items():
        emit(f"  {name.ljust(width)}  {value}")
    for key in (A.EFFECTIVE_BATCH, A.GRAD_ACCUM, A.LEARNING_RATE_USED, "trainable_params"):
        if key in best.user_attrs:
            emit(f"  ({key} = {best.user_attrs[key]})")
    if exported is None:
        if A.ADAPTER_DIR in best.user_attrs:
            emit(f"Adapter: {best.user_attrs[A.ADAPTER_DIR]}")
            emit(f"Export it with: hpsearch best {study.study_name} --export DIR")
        return 0
    emit(f"Exported trial #{best.number} from {exported.source} to {exported.folder}:")
    emit("  " + ", ".join(exported.files))
    if check is not None:
        emit(
            f"Verified: evaluated again on {check.num_examples} eval examples, "
            f"{check.metric} = {check.value:.6g} (recorded {best.value:.6g})"
        )
    if "adapter_config.json" in exported.files:
        emit(f"Load it with: PeftModel.from_pretrained(base_model, {str(exported.folder)!r})")
    return 0
