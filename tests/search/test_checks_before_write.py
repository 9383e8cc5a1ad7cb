"""Every check that can run before the study is written runs before it, and fails in seconds.

Ray unreachable or failing to start, an unusable checkpoint folder, a taken dashboard port and
a trial that fits on no worker: one line, exit 2 (bad input) or 3 (unavailable), and neither
the storage nor the checkpoint folder is created. A failure that can only happen after the
study is written says how to resume it.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cluster.helpers import free_port
from tests.helpers import run_cli_process, write_simulated_space
from tests.search.test_bad_input import assert_clean_failure


def write_space(folder: Path, cpus: float) -> str:
    return write_simulated_space(
        folder,
        "checks.yaml",
        plain=True,
        name="checks",
        trials=2,
        resources={"cpus_per_trial": cpus},
        params={"per_device_train_batch_size": 8},
        task={"max_steps": 10},
    )


def _closed_port(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    return ["--address", f"127.0.0.1:{free_port()}"], {}


def _ray_cannot_start(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    return [], {"RAY_TMPDIR": str(not_a_folder)}


def _checkpoint_dir_under_a_file(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    (tmp_path / "a-file").write_text("")
    return ["--checkpoint-dir", str(tmp_path / "a-file" / "ckpt")], {}


CASES: list[tuple[str, Callable[[Path], tuple[list[str], dict[str, str]]], int, str, float]] = [
    # (name, setup, exit code, message fragment, cpus_per_trial)
    ("ray-unreachable", _closed_port, 3, "cannot connect to Ray at 127.0.0.1:", 0.5),
    ("ray-start-fails", _ray_cannot_start, 3, "cannot start a local Ray instance", 0.5),
    ("checkpoint-dir", _checkpoint_dir_under_a_file, 2, "checkpoint folder", 0.5),
    ("trial-fits-nowhere", lambda _: ([], {}), 2, "a trial needs 4096 CPU", 4096),
]


@pytest.mark.parametrize(
    ("setup", "code", "fragment", "cpus"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_checks_fail_before_anything_is_written(
    setup: Callable[[Path], tuple[list[str], dict[str, str]]],
    code: int,
    fragment: str,
    cpus: float,
    tmp_path: Path,
) -> None:
    space = write_space(tmp_path, cpus)
    db = tmp_path / "studies.db"
    args, env = setup(tmp_path)
    if "--checkpoint-dir" not in args:
        args += ["--checkpoint-dir", str(tmp_path / "ckpt")]
    started = time.monotonic()
    # before the fix: the study was written first, then Ray retried for minutes, or a
    # worker that fits nowhere waited forever, or the error was an "unexpected error" (1)
    result = run_cli_process(
        "run", "--space", str(space), "--study", "s", "--storage", f"sqlite:///{db}", *args,
        env=env,
        timeout=90,
    )  # fmt: skip
    assert time.monotonic() - started < 60
    assert_clean_failure(result, code, fragment)
    assert "rpc_client" not in result.stderr and "gcs_client" not in result.stderr  # Ray's C++ logs
    assert not db.exists(), "the storage was created before the checks"
    assert not (tmp_path / "ckpt").exists()


def test_taken_dashboard_port_is_found_before_the_study_is_written(tmp_path: Path) -> None:
    space = write_space(tmp_path, 0.5)
    db = tmp_path / "studies.db"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli_process(
            "run", "--space", str(space), "--study", "s", "--storage", f"sqlite:///{db}",
            "--dashboard", "--dashboard-port", str(port), timeout=90,
        )  # fmt: skip
    assert not db.exists(), "the study was written before the port was checked"
    assert_clean_failure(result, 2, f"127.0.0.1:{port}", "already in use", "--dashboard-port")


def test_a_failure_after_the_study_is_written_says_how_to_resume() -> None:
    from hpsearch.search.cli import describe
    from hpsearch.search.engine import resumable

    with pytest.raises(OSError, match="No space") as raised, resumable("s1", created=True):
        raise OSError(28, "No space left on device")
    failure = describe(raised.value)
    assert failure.hint is not None
    assert "the study 's1' was created; resume it with: hpsearch resume s1" in failure.hint
    with (
        pytest.raises(RuntimeError, match="lost") as raised,
        resumable("s2", created=False, storage_flag=True),
    ):
        raise RuntimeError("lost")
    hint = describe(raised.value).hint
    assert hint is not None and "hpsearch resume s2 --storage URL" in hint
