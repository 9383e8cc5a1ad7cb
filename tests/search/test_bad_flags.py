"""Bad flag values are rejected at parse time: one line, exit 2, and no storage is created.

Nothing is silently treated as "not given": ``--trials 0``, ``--workers 0`` and ``--study ''``
are errors, as are negative, non-finite and out-of-range numbers, for every command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.search.cli.main import main
from tests.helpers import write_simulated_space

# (argv after the storage flag is added, the flag the message must name)
CASES = [
    (["run", "--trials", "-1"], "--trials"),
    (["run", "--trials", "0"], "--trials"),
    (["run", "--trials", "1e23"], "--trials"),
    (["run", "--trials", "zero"], "--trials"),
    (["run", "--workers", "0"], "--workers"),
    (["run", "--workers", "-1"], "--workers"),
    (["run", "--study", ""], "--study"),
    (["run", "--study", "  "], "--study"),
    (["run", "--space", ""], "--space"),
    (["run", "--checkpoint-dir", ""], "--checkpoint-dir"),
    (["run", "--address", ""], "--address"),
    (["run", "--address", "127.0.0.1"], "--address"),
    (["run", "--address", "127.0.0.1:99999"], "--address"),
    (["run", "--dashboard", "--dashboard-port", "99999"], "--dashboard-port"),
    (["run", "--dashboard", "--dashboard-port", "-1"], "--dashboard-port"),
    (["run", "--epochs", "nan"], "--epochs"),
    (["run", "--epochs", "0"], "--epochs"),
    (["run", "--max-steps", "0"], "--max-steps"),
    (["run", "--eval-steps", "-5"], "--eval-steps"),
    (["run", "--max-seq-length", "0"], "--max-seq-length"),
    (["run", "--max-train-samples", "0"], "--max-train-samples"),
    (["run", "--checkpoint-every", "0"], "--checkpoint-every"),
    (["run", "--seed", "-1"], "--seed"),
    (["run", "--model", ""], "--model"),
    (["resume", "s", "--trials", "0"], "--trials"),
    (["resume", "s", "--workers", "-1"], "--workers"),
    (["resume", ""], "STUDY"),
    (["status", "--watch", "--interval", "0"], "--interval"),
    (["status", "--watch", "--interval", "nan"], "--interval"),
    (["status", "--watch", "--interval", "-2"], "--interval"),
    (["status", ""], "STUDY"),
    (["dashboard", "--port", "70000"], "--port"),
    (["best", ""], "STUDY"),
    (["best", "s", "--export", ""], "--export"),
    (["report", "s", "--out", ""], "--out"),
    (["studies", "--storage", ""], "--storage"),
]


@pytest.mark.timeout(120)  # on the code before the fix some of these waited forever
@pytest.mark.parametrize(("argv", "flag"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_flag_value_is_one_line_exit_2_and_creates_nothing(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = write_simulated_space(
        tmp_path,
        "flags.yaml",
        plain=True,
        name="flags",
        trials=2,
        params={"per_device_train_batch_size": 8},
        task={"max_steps": 10},
    )
    db = tmp_path / "studies.db"
    extra = ["--space", str(space)] if argv[0] == "run" and "--space" not in argv else []
    storage = [] if "--storage" in argv else ["--storage", f"sqlite:///{db}"]
    with pytest.raises(SystemExit) as exited:  # argparse stops at the bad value
        main([*argv, *storage, *extra])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[:1], err
    assert flag in lines[0] and len(lines) == 2 and "--help" in lines[1], err
    assert not db.exists()
    assert not (tmp_path / "hpsearch-home").exists()
