"""YAHPO Gym's ``lcbench`` surrogate, evaluated with onnxruntime directly.

YAHPO Gym (PyPI ``yahpo-gym``) pins ``numpy<2`` and ``ConfigSpace<=0.6.1``, which would
downgrade hpsearch's environment. Its inference is small, so this module does the same thing
with ``onnxruntime`` and the benchmark's own files: ``lcbench/model.onnx`` takes two inputs,
``x_cat`` (int32, the instance's code from ``lcbench/encoding.json``) and ``x_cont`` (float32,
the columns of ``CONT_NAMES`` in that order), and returns the columns of ``Y_NAMES``. These are
the orders of ``yahpo_gym/benchmarks/lcbench.py`` (yahpo-gym 1.0.2); the test
``tests/benchmarks/test_lcbench_surrogate.py`` checks values against yahpo-gym's output.

The data files are never copied: they are read from ``data_path`` (by default
``../shared/data/yahpo_lcbench`` relative to the repository root).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_PATH = REPO_ROOT / ".." / "shared" / "data" / "yahpo_lcbench"

CONT_NAMES = (
    "epoch",
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
)
Y_NAMES = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
INSTANCE_PARAM = "OpenML_task_id"
FIDELITY_PARAM = "epoch"


def data_files_present(data_path: str | Path) -> bool:
    root = Path(data_path)
    return all(
        (root / "lcbench" / name).is_file()
        for name in ("model.onnx", "encoding.json", "config_space.json")
    )


def suite_instances(data_path: str | Path, scenario: str = "lcbench") -> list[str]:
    """The YAHPO-SO (single-objective v1.0) suite's instances of ``scenario``."""
    suite = json.loads(
        (Path(data_path) / "benchmark_suites" / "v1.0" / "single.json").read_text(encoding="utf-8")
    )
    return [str(entry["instance"]) for entry in suite if entry["scenario"] == scenario]


def space_params(data_path: str | Path) -> dict[str, dict[str, Any]]:
    """The ``params:`` section of an hpsearch space for lcbench, from ``config_space.json``.

    The instance and the fidelity (``epoch``) are not searched.
    """
    doc = json.loads(
        (Path(data_path) / "lcbench" / "config_space.json").read_text(encoding="utf-8")
    )
    params: dict[str, dict[str, Any]] = {}
    for hp in doc["hyperparameters"]:
        if hp["name"] in (INSTANCE_PARAM, FIDELITY_PARAM):
            continue
        kind = {"uniform_int": "int", "uniform_float": "float"}[hp["type"]]
        # Clean the float noise of the JSON bounds (1.0000000000000009e-4 -> 1e-4).
        low, high = (float(f"{hp[k]:.12g}") for k in ("lower", "upper"))
        if kind == "int":
            low, high = int(low), int(high)
        params[hp["name"]] = {"type": kind, "low": low, "high": high, "log": bool(hp["log"])}
    return params


@dataclass(frozen=True)
class Curve:
    """One configuration's learning curve: per-epoch val_accuracy and cumulative seconds."""

    val_accuracy: np.ndarray  # val_accuracy[e - 1] is the value after epoch e (percent)
    cum_time: np.ndarray  # seconds from the trial's start to the end of epoch e (non-decreasing)

    @property
    def n_epochs(self) -> int:
        return int(self.val_accuracy.shape[0])


class LcbenchSurrogate:
    """Full learning curves of one lcbench instance (one ONNX call per configuration)."""

    def __init__(self, data_path: str | Path, instance: str, max_epoch: int | None = None):
        import onnxruntime as rt  # imported here so that --help works without it

        root = Path(data_path) / "lcbench"
        encoding = json.loads((root / "encoding.json").read_text(encoding="utf-8"))
        codes = encoding[INSTANCE_PARAM]
        if instance not in codes:
            raise ValueError(f"unknown lcbench instance {instance!r}")
        doc = json.loads((root / "config_space.json").read_text(encoding="utf-8"))
        epoch_hp = next(hp for hp in doc["hyperparameters"] if hp["name"] == FIDELITY_PARAM)
        self.max_epoch = int(max_epoch or epoch_hp["upper"])
        self.instance = instance
        options = rt.SessionOptions()
        options.intra_op_num_threads = 1  # one core per benchmark process
        options.inter_op_num_threads = 1
        self._session = rt.InferenceSession(
            str(root / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        inputs = [i.name for i in self._session.get_inputs()]
        self._cat_name, self._cont_name = inputs[0], inputs[1]
        self._x_cat = np.full((self.max_epoch, 1), codes[instance], dtype=np.int32)
        self._epochs = np.arange(1, self.max_epoch + 1, dtype=np.float32)
        self._acc_col = Y_NAMES.index("val_accuracy")
        self._time_col = Y_NAMES.index("time")

    def predict(self, config: dict[str, Any], epochs: np.ndarray) -> np.ndarray:
        """Raw surrogate outputs (columns ``Y_NAMES``) of ``config`` at each of ``epochs``."""
        x_cont = np.empty((len(epochs), len(CONT_NAMES)), dtype=np.float32)
        x_cont[:, 0] = epochs
        for j, name in enumerate(CONT_NAMES[1:], start=1):
            x_cont[:, j] = config[name]
        x_cat = self._x_cat[: len(epochs)]
        return self._session.run(None, {self._cat_name: x_cat, self._cont_name: x_cont})[0]

    def curve(self, config: dict[str, Any]) -> Curve:
        out = self.predict(config, self._epochs)
        acc = out[:, self._acc_col].astype(np.float64)
        # The surrogate's time is the cumulative runtime; force it positive and non-decreasing.
        cum_time = np.maximum.accumulate(np.maximum(out[:, self._time_col], 1e-3)).astype(
            np.float64
        )
        return Curve(val_accuracy=acc, cum_time=cum_time)


def random_configs(data_path: str | Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` configurations drawn uniformly (log-uniformly where ``log``) from the space."""
    rng = np.random.default_rng(seed)
    configs: list[dict[str, Any]] = [{} for _ in range(n)]
    for name, p in space_params(data_path).items():
        lo, hi = (np.log(p["low"]), np.log(p["high"])) if p["log"] else (p["low"], p["high"])
        draws = rng.uniform(lo, hi, size=n)
        draws = np.exp(draws) if p["log"] else draws
        for config, value in zip(configs, draws, strict=True):
            config[name] = int(np.rint(value)) if p["type"] == "int" else float(value)
    return configs


def rank_correlation(
    surrogate: LcbenchSurrogate, configs: list[dict[str, Any]], epochs: tuple[int, ...]
) -> dict[int, float]:
    """Spearman correlation between val_accuracy after each of ``epochs`` and at the last.

    How well an early evaluation ranks configurations: what a pruner's decision relies on.
    """
    curves = np.array([surrogate.curve(c).val_accuracy for c in configs])
    ranks = curves.argsort(axis=0).argsort(axis=0).astype(float)
    last = ranks[:, -1]
    return {e: float(np.corrcoef(ranks[:, e - 1], last)[0, 1]) for e in epochs}
