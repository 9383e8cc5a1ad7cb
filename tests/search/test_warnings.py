"""``hpsearch run`` without ``--debug`` hides only the known noisy warnings: a warning raised
while the study runs (a user's sampler, a trial's code in the search process) still shows."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from hpsearch.search.cli.main import KNOWN_NOISY_WARNINGS, quiet_known_warnings
from hpsearch.search.engine import Driver
from tests.helpers import CliResult


def test_a_user_warning_during_a_run_still_shows(
    cli: Callable[..., CliResult],
    sim_space: Callable[..., str],
    fresh_pg_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    recwarn: pytest.WarningsRecorder,
) -> None:
    original = Driver.run

    def run(self: Driver) -> Any:
        warnings.warn("a user's warning while trials run", UserWarning, stacklevel=1)
        return original(self)

    monkeypatch.setattr(Driver, "run", run)
    result = cli(
        "run",
        *("--space", sim_space(trials=2), "--storage", fresh_pg_url),
        *("--checkpoint-dir", str(tmp_path / "ck"), "--workers", "1", "--no-live"),
    )
    assert result.code == 0, result.output
    shown = [str(w.message) for w in recwarn]
    assert "a user's warning while trials run" in shown, shown
    # the study's creation makes optuna-dashboard warn about its own API: that one is hidden
    assert not [m for m in shown if "set_objective_names" in m or "set_metric_names" in m]


def test_only_the_listed_warnings_are_filtered() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_warnings()
        added = warnings.filters[: len(KNOWN_NOISY_WARNINGS)]
        warnings.warn("shown", UserWarning, stacklevel=1)
        warnings.warn("shown too", DeprecationWarning, stacklevel=1)
        warnings.warn_explicit(
            "`set_objective_names()` function is deprecated.",
            FutureWarning,
            "x.py",
            1,
            module="optuna_dashboard._named_objectives",
        )
        warnings.warn_explicit(
            "`set_objective_names()` function is deprecated.",
            FutureWarning,
            "x.py",
            1,
            module="mypkg",  # the same words from another module: shown
        )
    assert [str(w.message) for w in caught] == [
        "shown",
        "shown too",
        "`set_objective_names()` function is deprecated.",
    ]
    # each filter names a category and a module, none is a catch-all
    assert all(f[0] == "ignore" and f[1] is not None and f[3] is not None for f in added)
