"""What a study remembers about itself, so ``hpsearch resume STUDY`` needs nothing else.

The space, the task, the budget and the checkpoint root are study user attributes; the
dashboard shows them and the plain ``optuna`` CLI reads them.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import optuna

from hpsearch.search.records import attributes as A
from hpsearch.spaces import (
    ComputeBudget,
    IssueCollector,
    SearchSpace,
    SpaceError,
    TaskSpec,
    compute_budget_from,
    load_space_dict,
    load_task,
)
from hpsearch.spaces.errors import EXIT_BAD_INPUT, HpsearchError
from hpsearch.storage import redact


class StudyMetaError(HpsearchError, ValueError):
    """The study was not created by hpsearch, or its stored settings are unreadable."""

    exit_code = EXIT_BAD_INPUT


def hpsearch_version() -> str:
    try:
        return importlib.metadata.version("hpsearch")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout
        return "0+unknown"


@dataclass(frozen=True)
class StudyMeta:
    space: SearchSpace
    task: TaskSpec
    budget: int | None  # finished trials; None: no trial limit (a compute budget only)
    checkpoint_root: Path
    command: str = ""
    version: str = ""
    compute_budget: ComputeBudget | None = None  # None: none (every study before it existed)

    def attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {
            A.STUDY_SPACE: self.space.to_dict(),
            A.STUDY_TASK: self.task.to_dict(),
            A.STUDY_BUDGET: self.budget,
            A.STUDY_CHECKPOINT_ROOT: str(self.checkpoint_root),
            A.STUDY_COMMAND: self.command,
            A.STUDY_VERSION: self.version or hpsearch_version(),
        }
        if self.compute_budget is not None:
            attrs[A.STUDY_COMPUTE_BUDGET] = self.compute_budget.to_dict()
        return attrs

    @property
    def full_steps(self) -> int | None:
        """One full trial's length in the task's fidelity steps (None: counted in tokens)."""
        return self.task.max_steps if self.task.fidelity == "steps" else None

    @property
    def compute_limit(self) -> float | None:
        """The compute budget in the task's fidelity units (None: no compute budget)."""
        if self.compute_budget is None:
            return None
        return self.compute_budget.limit(self.full_steps)


def save_meta(study: optuna.Study, meta: StudyMeta) -> None:
    for key, value in meta.attrs().items():
        study.set_user_attr(key, value)


def set_budget(study: optuna.Study, budget: int) -> None:
    study.set_user_attr(A.STUDY_BUDGET, budget)


def set_checkpoint_root(study: optuna.Study, root: Path) -> None:
    study.set_user_attr(A.STUDY_CHECKPOINT_ROOT, str(root))


def scrub_stored_secrets(study: optuna.Study) -> bool:
    """Mask a database password that an earlier hpsearch version stored in the study's
    command or dashboard note (it redacted the command line before the URL was parsed).
    True if anything was rewritten."""
    from optuna_dashboard import get_note, save_note

    changed = False
    command = study.user_attrs.get(A.STUDY_COMMAND)
    if isinstance(command, str) and redact(command) != command:
        study.set_user_attr(A.STUDY_COMMAND, redact(command))
        changed = True
    note = get_note(study)
    if note and redact(note) != note:
        save_note(study, redact(note))
        changed = True
    return changed


def _release(version: str) -> tuple[int, ...] | None:
    found = re.match(r"(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in found.group(1).split(".")) if found else None


def _newer_than_this(stored: str) -> bool:
    """Whether ``stored`` is a later release than this hpsearch (by its release numbers)."""
    ours, theirs = _release(hpsearch_version()), _release(stored)
    if ours is None or theirs is None or hpsearch_version().startswith("0+"):
        return False
    width = max(len(ours), len(theirs))
    return theirs + (0,) * (width - len(theirs)) > ours + (0,) * (width - len(ours))


def load_meta(study: optuna.Study) -> StudyMeta:
    """The study's stored settings; a layout this version cannot read is a one-line
    :class:`StudyMetaError` that says what to do."""
    attrs = study.user_attrs
    name = study.study_name
    stored = str(attrs.get(A.STUDY_VERSION, ""))
    if stored and _newer_than_this(stored):
        raise StudyMetaError(
            f"study {name!r} was written by hpsearch {stored}, newer than this hpsearch "
            f"{hpsearch_version()}; upgrade hpsearch (pip install -U hpsearch) to continue it"
        )
    missing = [k for k in (A.STUDY_SPACE, A.STUDY_TASK, A.STUDY_BUDGET) if k not in attrs]
    if missing and not stored:
        raise StudyMetaError(
            f"study {name!r} was not created by hpsearch (it has no "
            f"{', '.join(missing)}); start a new one with hpsearch run --study NEW_NAME"
        )
    written = f" (written by hpsearch {stored})" if stored else ""
    if missing:
        raise StudyMetaError(
            f"study {name!r}{written} has no {', '.join(missing)}, so hpsearch cannot continue "
            "it; start a new one with hpsearch run --study NEW_NAME"
        )
    try:
        stored_space = dict(attrs[A.STUDY_SPACE])
        # The stored name is kept as it is: earlier versions accepted names (from file names,
        # say) that a new space may no longer use, and such a study must still resume.
        space_name = stored_space.pop("name", None)
        space = load_space_dict(stored_space, source=f"study {name!r}", default_name="s")
        if isinstance(space_name, str) and space_name:
            space = replace(space, name=space_name)
        issues = IssueCollector()
        task = load_task(attrs[A.STUDY_TASK], issues)
        issues.raise_if_any(f"study {name!r} task")
        stored_budget = attrs[A.STUDY_BUDGET]
        compute = compute_budget_from(attrs.get(A.STUDY_COMPUTE_BUDGET))
        if A.STUDY_COMPUTE_BUDGET in attrs and compute is None:
            raise ValueError(f"unreadable compute budget {attrs[A.STUDY_COMPUTE_BUDGET]!r}")
        if stored_budget is None and compute is None:
            raise ValueError("no trial budget and no compute budget")
        budget = None if stored_budget is None else int(stored_budget)
    except (SpaceError, TypeError, ValueError) as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        advice = (
            f"continue it with hpsearch {stored} (pip install hpsearch=={stored})"
            if stored and stored != hpsearch_version()
            else "start a new one with hpsearch run --study NEW_NAME"
        )
        raise StudyMetaError(
            f"the settings stored in study {name!r}{written} are not valid for this hpsearch "
            f"version ({hpsearch_version()}): {detail[:300]}; {advice}"
        ) from None
    return StudyMeta(
        space=space,
        task=task,
        budget=budget,
        checkpoint_root=Path(attrs.get(A.STUDY_CHECKPOINT_ROOT, ".")),
        command=str(attrs.get(A.STUDY_COMMAND, "")),
        version=stored,
        compute_budget=compute,
    )


def hardware_summary() -> dict[str, Any]:
    """The driver's view of the hardware; the workers add theirs per trial.

    Read without importing torch (the driver trains nothing and should not carry it): the
    installed torch's version from its metadata, the GPUs' names from ``nvidia-smi``.
    """
    import os
    from importlib import metadata

    summary: dict[str, Any] = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(metadata.PackageNotFoundError):
        summary["torch"] = metadata.version("torch")
    gpus = _gpu_names()
    if gpus:
        summary["gpus"] = gpus
    return summary


def _gpu_names() -> list[str]:
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=15,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []  # no driver loaded, or no GPU visible: the note says "none"
    return [line.strip() for line in out.splitlines() if line.strip()]


def study_note(meta: StudyMeta, hardware: dict[str, Any]) -> str:
    """Markdown for the dashboard's study note: space, task, hardware, command. Redacted as a
    whole: optuna-dashboard stores it in chunks, where a password could straddle two."""
    return redact(_note_text(meta, hardware))


def _note_text(meta: StudyMeta, hardware: dict[str, Any]) -> str:
    task = meta.task
    model = task.model or "all-MiniLM-L6-v2 (built-in demo)"
    data = task.dataset or "standard-library docstrings (built-in demo)"
    params = "\n".join(f"| `{p.name}` | {p.kind} | {_describe(p)} |" for p in meta.space.params)
    gpus = ", ".join(hardware.get("gpus", [])) or "none (CPU trials)"
    return f"""# {meta.space.name}: {meta.space.description or "hpsearch study"}

**Command:** `{meta.command}`

**Task:** {task.type} fine-tuning of `{model}` on `{data}`; method **{meta.space.method}**;
objective `{meta.space.objective.metric}` ({meta.space.objective.direction}); budget
{_budget_text(meta)}; sampler `{meta.space.sampler.type}`, pruner
`{meta.space.pruner.type}`, early-stopping patience {meta.space.early_stopping.patience}.

**Hardware (driver):** {hardware.get("host")} with {hardware.get("cpus")} CPUs; GPUs: {gpus}.

**Checkpoints:** `{meta.checkpoint_root}` · hpsearch {meta.version or hpsearch_version()}

| parameter | kind | range |
| --- | --- | --- |
{params}
"""


def _budget_text(meta: StudyMeta) -> str:
    parts = [] if meta.budget is None else [f"{meta.budget} finished trials"]
    if meta.compute_budget is not None:
        parts.append(f"{meta.compute_budget} of training compute")
    return " or ".join(parts)


def _describe(param: Any) -> str:
    if param.kind in ("float", "int"):
        scale = " (log)" if param.log else ""
        return f"{param.low} .. {param.high}{scale}"
    if param.kind == "categorical":
        return ", ".join(map(str, param.choices))
    return f"fixed: {param.value}"
