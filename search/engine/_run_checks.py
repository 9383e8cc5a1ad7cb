"""Everything that can be checked before a study is written, reported all at once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from hpsearch.search.policy import grid_size, validate_policy
from hpsearch.spaces import (
    KNOBS,
    MANAGED_TRAINING_ARGS,
    SAMPLERS,
    IssueCollector,
    SearchSpace,
    SpaceError,
    SpaceIssue,
    TaskSpec,
    load_task,
    suggest,
)


def build_task(
    space: SearchSpace, overrides: Mapping[str, Any], issues: IssueCollector | None = None
) -> TaskSpec:
    """The task: the space's ``task:`` section, then CLI overrides.

    Raises SpaceError, or, given ``issues``, adds the problems there and returns the task as
    read (defaults where a value could not be read), so that the other checks still run.
    """
    merged = {**space.task, **{k: v for k, v in overrides.items() if v is not None}}
    if isinstance(merged.get("script"), str) and merged["script"].strip():
        merged["script"] = os.path.abspath(merged["script"])  # workers run it from anywhere
    if overrides.get("model") or overrides.get("dataset"):
        merged.setdefault("demo", False)
    found = IssueCollector()
    task = load_task(merged, found)
    if issues is None:
        found.raise_if_any("task (space task: section and command-line flags)")
    else:
        issues.extend(found.issues)
    if task.demo:
        task = _demo_defaults(task, space.task, overrides)
    return task


def _demo_defaults(
    task: TaskSpec, space_task: Mapping[str, Any], overrides: Mapping[str, Any]
) -> TaskSpec:
    """The built-in demo's sizes: small enough for a 2-core CPU, big enough to learn."""
    from dataclasses import replace

    given = {**space_task, **{k: v for k, v in overrides.items() if v is not None}}
    defaults: dict[str, Any] = {
        "max_seq_length": 48,
        "eval_steps": 5,
        "max_eval_samples": 96,
        "per_device_eval_batch_size": 64,
    }
    return replace(task, **{k: v for k, v in defaults.items() if k not in given})


def validate_run(space: SearchSpace, task: TaskSpec, budget: int | None = None) -> list[SpaceIssue]:
    """Problems with the combination of space and task, including TrainingArguments names."""
    from hpsearch.trainers import training_argument_names

    issues = list(validate_policy(space))
    training_args = training_argument_names(task.type)
    for param in space.params:
        path = f"params.{param.name}"
        if param.name in KNOBS or task.type == "custom":  # a custom script takes any name
            continue
        if param.name in MANAGED_TRAINING_ARGS:
            issues.append(
                SpaceIssue(
                    path, "is set by hpsearch itself", param.name, MANAGED_TRAINING_ARGS[param.name]
                )
            )
        elif param.name not in training_args and task.type != "simulated":
            # (a simulated trainer has no TrainingArguments: any parameter is its input)
            issues.append(
                SpaceIssue(
                    path,
                    "is neither an hpsearch knob nor a TrainingArguments field"
                    + (" (nor a trl SFTConfig field)" if task.type == "causal_lm" else "")
                    + suggest(param.name, [*KNOBS, *training_args]),
                    param.name,
                    "see docs/spaces.md for the knobs; any transformers.TrainingArguments field"
                    + (" or trl.SFTConfig field" if task.type == "causal_lm" else ""),
                )
            )
    if space.param("num_train_epochs") is not None and task.max_steps is not None:
        issues.append(
            SpaceIssue(
                "params.num_train_epochs",
                "the space searches epochs but the task fixes max_steps",
                task.max_steps,
                "drop --max-steps (task.max_steps)",
            )
        )
    if SAMPLERS.get(space.sampler.type).needs_grid_space and not issues:
        try:
            size = grid_size(space)
        except ValueError as exc:
            issues.append(SpaceIssue("params", str(exc)))
        else:
            wanted = budget or space.trials
            if wanted is not None and size < wanted:
                issues.append(
                    SpaceIssue(
                        "trials",
                        "is larger than the grid",
                        wanted,
                        f"at most {size} (the number of grid points)",
                    )
                )
    if task.type == "custom" and task.fidelity == "tokens":
        issues.append(
            SpaceIssue(
                "task.fidelity",
                "a custom task's script reports optimizer steps",
                task.fidelity,
                "steps",
            )
        )
    issues.extend(compute_budget_issues(space, task))
    if task.type == "simulated" and task.max_steps is None:
        issues.append(SpaceIssue("task.max_steps", "a simulated task needs max_steps"))
    return issues


def compute_budget_issues(space: SearchSpace, task: TaskSpec) -> list[SpaceIssue]:
    """A compute budget counts the task's fidelity: steps or tokens; an FBE needs max_steps."""
    budget = space.compute_budget
    if budget is None:
        return []
    if budget.unit == "tokens" and task.fidelity != "tokens":
        return [
            SpaceIssue(
                "compute_budget.tokens",
                "the task counts optimizer steps (fidelity steps)",
                budget.to_dict(),
                "compute_budget: {steps: N} or {fbe: N}, or task.fidelity: tokens",
            )
        ]
    if budget.unit != "tokens" and task.fidelity == "tokens":
        return [
            SpaceIssue(
                f"compute_budget.{budget.unit}",
                "the task counts tokens seen (fidelity tokens)",
                budget.to_dict(),
                "compute_budget: {tokens: N}",
            )
        ]
    if budget.unit == "fbe" and task.max_steps is None:
        return [
            SpaceIssue(
                "compute_budget.fbe",
                "a full-budget equivalent is one trial of max_steps, and the task sets none",
                budget.to_dict(),
                "task.max_steps (--max-steps), or compute_budget: {steps: N}",
            )
        ]
    return []


def raise_if_invalid(
    space: SearchSpace, task: TaskSpec, source: str, budget: int | None = None
) -> None:
    issues = validate_run(space, task, budget)
    if issues:
        raise SpaceError(issues, source)
