"""Pick the runner for a task type (its ``TASKS`` strategy); heavy imports happen lazily."""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
from pathlib import Path

from hpsearch.trainers._base import TrialConfig, TrialRunner
from hpsearch.trainers._tasks import task_for

# Names a space may use for TrainingArguments fields that transformers 5 renamed.
TRAINING_ARG_ALIASES = {
    "warmup_ratio": "warmup_steps",
    "gradient_checkpointing": "activation_checkpointing",
}


def runner_for(task_type: str) -> TrialRunner:
    """A process-wide runner per task type, so its caches live across trials."""
    return task_for(task_type).runner()


def input_problems(task_type: str, config: TrialConfig) -> list[str]:
    """Problems with a trial's model and data, found without loading either.

    For Hugging Face tasks this needs neither torch nor transformers, so the driver, which
    checks every run's inputs before it starts, never imports them.
    """
    return task_for(task_type).input_problems(config)


def training_argument_names(task_type: str | None = None) -> frozenset[str]:
    """Fields a space may set: ``transformers.TrainingArguments``'s (plus known aliases), and
    for a causal-LM task also TRL's ``SFTConfig`` fields (its trials train with ``SFTTrainer``).

    Read from the libraries' source rather than by importing them: importing transformers or
    trl imports torch, which would cost the driver (it validates every space, trains nothing)
    about 500 MB and a second of start-up. Falls back to the import if the source has another
    shape.
    """
    names = _training_argument_fields() | set(TRAINING_ARG_ALIASES)
    if task_type == "causal_lm":
        names |= sft_only_argument_names()
    return frozenset(names)


def sft_only_argument_names() -> frozenset[str]:
    """``trl.SFTConfig`` fields that ``TrainingArguments`` does not have."""
    return _sft_config_fields() - _training_argument_fields()


def _dataclass_fields(module_path: Path, class_name: str, base: str | None) -> set[str] | None:
    """Annotated class-level names of ``class_name`` in the file, or None if it is not there
    or does not derive from exactly ``base`` (None: from nothing)."""
    try:
        tree = ast.parse(module_path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            bases = [b.id if isinstance(b, ast.Name) else None for b in node.bases]
            if bases != ([base] if base else []):
                return None
            return {
                stmt.target.id
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
            }
    return None


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


@functools.lru_cache(maxsize=1)
def _training_argument_fields() -> frozenset[str]:
    folder = _package_dir("transformers")
    source = folder / "training_args.py" if folder else None
    names = _dataclass_fields(source, "TrainingArguments", None) if source else None
    if names:
        return frozenset(names)
    from transformers import TrainingArguments

    return frozenset(f.name for f in dataclasses.fields(TrainingArguments))


@functools.lru_cache(maxsize=1)
def _sft_config_fields() -> frozenset[str]:
    """``SFTConfig`` = ``TrainingArguments`` + TRL's ``_BaseConfig`` + ``SFTConfig`` fields."""
    folder = _package_dir("trl")
    if folder is not None:
        trainer = folder / "trainer"
        base = _dataclass_fields(trainer / "base_config.py", "_BaseConfig", "TrainingArguments")
        own = _dataclass_fields(trainer / "sft_config.py", "SFTConfig", "_BaseConfig")
        if base is not None and own:
            return frozenset(_training_argument_fields() | base | own)
    from trl import SFTConfig

    return frozenset(f.name for f in dataclasses.fields(SFTConfig))
