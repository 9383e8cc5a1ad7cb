"""Pick the runner for a task type; heavy imports (torch, transformers) happen lazily."""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
from pathlib import Path

from hpsearch.trainers._base import TrialConfig, TrialError, TrialRunner

_RUNNERS: dict[str, TrialRunner] = {}

# Names a space may use for TrainingArguments fields that transformers 5 renamed.
TRAINING_ARG_ALIASES = {
    "warmup_ratio": "warmup_steps",
    "gradient_checkpointing": "activation_checkpointing",
}


def runner_for(task_type: str) -> TrialRunner:
    """A process-wide runner per task type, so its caches live across trials."""
    kind = task_type if task_type in ("simulated", "custom") else "hf"
    if kind not in _RUNNERS:
        if kind == "custom":  # the user's own script or entry point (bring your own training)
            from hpsearch.trainers._script_runner import ScriptTrialRunner

            _RUNNERS[kind] = ScriptTrialRunner()
        elif kind == "simulated":
            from hpsearch.trainers._simulated import SimulatedTrialRunner

            _RUNNERS[kind] = SimulatedTrialRunner()
        else:
            from hpsearch.trainers._hf import HFTrialRunner

            _RUNNERS[kind] = HFTrialRunner()
    return _RUNNERS[kind]


def input_problems(task_type: str, config: TrialConfig) -> list[str]:
    """Problems with a trial's model and data, found without loading either.

    For Hugging Face tasks this needs neither torch nor transformers, so the driver, which
    checks every run's inputs before it starts, never imports them.
    """
    if task_type in ("simulated", "custom"):
        return runner_for(task_type).validate(config)
    return hf_input_problems(config)


def hf_input_problems(config: TrialConfig) -> list[str]:
    """The model resolves to a local folder or cached hub id; the dataset can be read."""
    from hpsearch.trainers._data import validate_data
    from hpsearch.trainers._hub import resolve_model_path

    problems = []
    try:
        resolve_model_path(config.model)
    except TrialError as exc:
        problems.append(str(exc))
    return problems + validate_data(config.data, config.model.task_type)


def training_argument_names() -> frozenset[str]:
    """Fields of ``transformers.TrainingArguments`` a space may set (plus known aliases).

    Read from transformers' source rather than by importing it: importing transformers imports
    torch, which would cost the driver (it validates every space, trains nothing) about 500 MB
    and a second of start-up. Falls back to the import if the source has another shape.
    """
    return frozenset(_training_argument_fields() | set(TRAINING_ARG_ALIASES))


@functools.lru_cache(maxsize=1)
def _training_argument_fields() -> frozenset[str]:
    spec = importlib.util.find_spec("transformers")
    if spec is not None and spec.origin is not None:
        source = Path(spec.origin).parent / "training_args.py"
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            tree = None
        for node in tree.body if tree is not None else []:
            if isinstance(node, ast.ClassDef) and node.name == "TrainingArguments":
                names = {
                    stmt.target.id
                    for stmt in node.body
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                }
                if names and not node.bases:  # a plain dataclass: its fields are these
                    return frozenset(names)
    from transformers import TrainingArguments

    return frozenset(f.name for f in dataclasses.fields(TrainingArguments))
