"""A study's budget in training compute (``compute_budget:``), besides or instead of ``trials``.

``{fbe: 100}`` is 100 full-budget equivalents (one FBE = one trial trained to the task's
``max_steps``); ``{steps: 20000}`` counts the task's fidelity steps (optimizer steps);
``{tokens: N}`` counts tokens seen, for a task whose fidelity is ``tokens``. Exactly one key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hpsearch.spaces._check import is_int, is_number, suggest
from hpsearch.spaces._errors import IssueCollector
from hpsearch.spaces._limits import MAX_INT

ComputeUnit = Literal["fbe", "steps", "tokens"]
COMPUTE_UNITS: tuple[ComputeUnit, ...] = ("fbe", "steps", "tokens")
MAX_TOKENS = 2**62
_ALLOWED = "a mapping with exactly one key: fbe (a number > 0), steps or tokens (an integer >= 1)"


@dataclass(frozen=True)
class ComputeBudget:
    """Training compute a study may spend: ``amount`` in ``unit``."""

    unit: ComputeUnit
    amount: float

    def to_dict(self) -> dict[str, float | int]:
        amount = self.amount if self.unit == "fbe" else int(self.amount)
        return {self.unit: amount}

    def limit(self, full_steps: int | None) -> float:
        """The budget in the task's fidelity units (steps, or tokens); ``full_steps``: one
        full trial's steps (the task's max_steps), needed for an FBE budget."""
        if self.unit != "fbe":
            return float(self.amount)
        if not full_steps:
            raise ValueError("an fbe compute budget needs the task's max_steps")
        return float(self.amount) * full_steps

    def __str__(self) -> str:
        return f"{self.amount:g} FBE" if self.unit == "fbe" else f"{int(self.amount):,} {self.unit}"


def compute_budget_from(value: Any) -> ComputeBudget | None:
    """The budget a stored study attribute (``{"fbe": N}``) holds; None for none or a bad one."""
    issues = IssueCollector()
    budget = load_compute_budget(value, issues)
    return None if issues else budget


def load_compute_budget(data: Any, issues: IssueCollector) -> ComputeBudget | None:
    """Validate ``compute_budget:``; every problem is one issue naming the value and what is
    allowed."""
    if data is None:
        return None
    path = "compute_budget"
    if not isinstance(data, Mapping) or not data:
        issues.add(path, "must be a mapping with one key", data, _ALLOWED)
        return None
    unknown = [str(k) for k in data if k not in COMPUTE_UNITS]
    if unknown:
        issues.add(
            f"{path}.{unknown[0]}",
            "unknown key" + suggest(unknown[0], COMPUTE_UNITS),
            allowed=", ".join(COMPUTE_UNITS),
        )
        return None
    if len(data) > 1:
        issues.add(path, "gives more than one unit", dict(data), _ALLOWED)
        return None
    ((unit, amount),) = data.items()
    if unit == "fbe":
        if not is_number(amount) or amount <= 0 or amount > MAX_INT:
            issues.add(f"{path}.fbe", "is not valid", amount, f"a finite number > 0, <= {MAX_INT}")
            return None
        return ComputeBudget("fbe", float(amount))
    top = MAX_INT if unit == "steps" else MAX_TOKENS
    if not is_int(amount) or not 1 <= amount <= top:
        issues.add(f"{path}.{unit}", "is not valid", amount, f"an integer from 1 to {top}")
        return None
    return ComputeBudget(unit, float(amount))


COMPUTE_BUDGET_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "additionalProperties": False,
            "properties": {
                "fbe": {
                    "description": "Full-budget equivalents: steps / the task's max_steps.",
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "maximum": MAX_INT,
                },
                "steps": {
                    "description": "Training steps (the task's fidelity steps).",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_INT,
                },
                "tokens": {
                    "description": "Tokens seen (a task whose fidelity is tokens).",
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_TOKENS,
                },
            },
        },
    ]
}

__all__ = [
    "COMPUTE_BUDGET_SCHEMA",
    "COMPUTE_UNITS",
    "ComputeBudget",
    "ComputeUnit",
    "compute_budget_from",
    "load_compute_budget",
]
