"""Shared test helpers: one simulated-space factory, one CLI runner (in-process and as a
process), one way to open a study. The fixtures over them are in tests/conftest.py."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

# A small simulated study: no training, so the driver, budget, pruner and retries run in seconds.
SIMULATED_SPACE: dict[str, Any] = {
    "name": "sim",
    "trials": 8,
    "sampler": {"type": "tpe", "seed": 1},
    "pruner": {"type": "median"},
    "early_stopping": {"patience": None},
    "resources": {"gpus_per_trial": 0, "cpus_per_trial": 0.5},
    "retries": {"max_retries": 2, "heartbeat_interval": 1, "grace_period": 5},
    "params": {
        "learning_rate": {"type": "float", "low": 1.0e-5, "high": 1.0e-2, "log": True},
        "per_device_train_batch_size": {"type": "categorical", "choices": [4, 8, 16]},
        "effective_batch_size": 16,
    },
    "task": {
        "type": "simulated",
        "max_steps": 20,
        "eval_steps": 5,
        "simulated": {"seconds_per_step": 0.01},
    },
}


def _merge(base: dict[str, Any], changes: Mapping[str, Any], *, whole: bool) -> dict[str, Any]:
    """``base`` with ``changes``: nested mappings merge (``whole``: a parameter's definition is
    replaced as a whole), a ``None`` value removes the key."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict) and not whole:
            out[key] = _merge(out[key], value, whole=key == "params")
        else:
            out[key] = copy.deepcopy(value)
    return out


# The sections a plain space leaves to hpsearch's defaults.
_TUNED_SECTIONS = ("sampler", "pruner", "early_stopping", "retries")


def simulated_space_dict(*, plain: bool = False, **changes: Any) -> dict[str, Any]:
    """:data:`SIMULATED_SPACE` with ``changes`` merged in (``sampler={"type": "random"}``,
    ``task={"max_steps": 8}``, ``params={"lora_r": {...}}``; ``early_stopping=None`` drops it).
    Sections merge key by key; a parameter given in ``params`` replaces that parameter.
    ``plain``: no sampler, pruner, early-stopping or retries section (hpsearch's defaults)."""
    base = SIMULATED_SPACE
    if plain:
        base = {k: v for k, v in SIMULATED_SPACE.items() if k not in _TUNED_SECTIONS}
    return _merge(base, changes, whole=False)


def write_simulated_space(
    folder: Path, file_name: str = "sim.yaml", *, plain: bool = False, **changes: Any
) -> str:
    """A simulated space YAML file in ``folder`` (see :func:`simulated_space_dict`); its path."""
    path = Path(folder) / file_name
    path.write_text(yaml.safe_dump(simulated_space_dict(plain=plain, **changes), sort_keys=False))
    return str(path)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def cli_main(*args: str) -> int:
    """``hpsearch ARGS`` in this process; its exit code (a usage error's too)."""
    from hpsearch.search.cli.main import main

    try:
        return main(list(args))
    except SystemExit as exc:  # usage errors (argparse) exit from the parser
        return int(exc.code or 0)


def run_cli_process(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``hpsearch ARGS`` as its own process (``python -m hpsearch.search.cli.main``)."""
    return subprocess.run(
        hpsearch_argv(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def hpsearch_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch.search.cli.main", *args]


def sa_url(url: str) -> str:
    """A postgresql:// URL with the driver SQLAlchemy needs spelled out."""
    return url.replace("postgresql://", "postgresql+psycopg2://")


def load_study(url: str, name: str) -> optuna.Study:
    """Study ``name`` through plain Optuna (what any Optuna tool sees)."""
    return optuna.load_study(study_name=name, storage=sa_url(url))
