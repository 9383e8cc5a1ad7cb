"""The onnxruntime evaluation of lcbench matches yahpo-gym's own ``objective_function``."""

from __future__ import annotations

import pytest

from benchmarks.common import DATA_PATH

pytest.importorskip("onnxruntime", reason="the lcbench surrogate needs onnxruntime (bench extra)")

from benchmarks.sample_efficiency import lcbench as se_lcbench

if not se_lcbench.data_files_present(DATA_PATH):
    pytest.skip(f"lcbench data not found under {DATA_PATH}", allow_module_level=True)

DEFAULT_CONFIG = {
    "batch_size": 91,
    "learning_rate": 0.0031622777,
    "momentum": 0.545,
    "weight_decay": 0.050005,
    "num_layers": 3,
    "max_units": 256,
    "max_dropout": 0.5,
}
# yahpo-gym 1.0.2 (numpy 1.26, ConfigSpace 0.6.1, onnxruntime 1.32), this data (VERSION 1.0.2):
# BenchmarkSet("lcbench", instance="167168").objective_function({**DEFAULT_CONFIG, "epoch": e})
YAHPO_167168 = {
    1: (7.5247054, 23.293322),
    2: (15.001857, 24.122236),
    11: (43.232914, 38.59806),
    26: (65.20141, 44.216278),
    52: (96.65369, 45.568024),
}


def test_matches_yahpo_gym_outputs() -> None:
    surrogate = se_lcbench.LcbenchSurrogate(DATA_PATH, "167168")
    curve = surrogate.curve(DEFAULT_CONFIG)
    assert curve.n_epochs == 52
    for epoch, (seconds, accuracy) in YAHPO_167168.items():
        assert curve.val_accuracy[epoch - 1] == pytest.approx(accuracy, abs=1e-3)
        assert curve.cum_time[epoch - 1] == pytest.approx(seconds, abs=1e-3)


def test_time_is_cumulative_and_non_decreasing() -> None:
    curve = se_lcbench.LcbenchSurrogate(DATA_PATH, "189873").curve(DEFAULT_CONFIG)
    assert (curve.cum_time > 0).all()
    assert (curve.cum_time[1:] >= curve.cum_time[:-1]).all()


def test_suite_and_space_come_from_the_data_files() -> None:
    assert se_lcbench.suite_instances(DATA_PATH) == ["167168", "189873", "189906"]
    params = se_lcbench.space_params(DATA_PATH)
    assert set(params) == set(DEFAULT_CONFIG)
    assert params["learning_rate"] == {"type": "float", "low": 1e-4, "high": 0.1, "log": True}
    assert params["batch_size"] == {"type": "int", "low": 16, "high": 512, "log": True}


def test_unknown_instance_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown lcbench instance"):
        se_lcbench.LcbenchSurrogate(DATA_PATH, "0")
