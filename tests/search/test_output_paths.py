"""Output paths create only what they name: ``report --out`` the file, ``best --export`` the
folder. A missing parent folder is one clear line (exit 2), and nothing is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpsearch.search.cli.main import main
from tests.helpers import write_simulated_space


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The storage URL of a finished one-trial simulated study named ``out``."""
    folder = tmp_path_factory.mktemp("outputs")
    space = write_simulated_space(
        folder,
        "outputs.yaml",
        plain=True,
        name="outputs",
        trials=1,
        params={"per_device_train_batch_size": 8},
        task={"max_steps": 10},
    )
    url = f"sqlite:///{folder / 'studies.db'}"
    argv = ["run", "--space", str(space), "--study", "out", "--storage", url]
    assert main([*argv, "--checkpoint-dir", str(folder / "ckpt")]) == 0
    return url


def test_output_paths_never_create_missing_folders(
    finished: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    missing = tmp_path / "missing"
    for argv in (
        ["report", "out", "--out", str(missing / "dir" / "report.html")],
        ["best", "out", "--export", str(missing / "dir" / "adapter")],
    ):
        assert main([*argv, "--storage", finished]) == 2, argv
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "not an existing folder" in lines[0], err
        assert not missing.exists(), f"{argv[0]} created {missing}"
    # what they do name is created: the report file, the export folder
    assert main(["report", "out", "--out", str(tmp_path / "r.html"), "--storage", finished]) == 0
    assert (tmp_path / "r.html").is_file()
    assert main(["best", "out", "--export", str(tmp_path / "best"), "--storage", finished]) == 0
    assert (tmp_path / "best" / "best_trial.json").is_file()


def test_a_full_checkpoint_disk_at_driver_start_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The disk fills between the pre-write check and the driver's start (the chaos soak found
    it): one line naming the folder and the fix, exit 2, the study left resumable."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (disk / "ckpt").mkdir()
        with open(disk / "fill", "wb") as fill:
            try:
                while True:
                    fill.write(b"\0" * 65536)
            except OSError:
                pass
        space = write_simulated_space(
            tmp_path,
            "outputs.yaml",
            plain=True,
            name="outputs",
            trials=1,
            params={"per_device_train_batch_size": 8},
            task={"max_steps": 10},
        )
        url = f"sqlite:///{tmp_path / 'studies.db'}"
        argv = ["run", "--space", str(space), "--study", "full", "--storage", url]
        capsys.readouterr()
        assert main([*argv, "--checkpoint-dir", str(disk / "ckpt")]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
        assert len(err) == 1 and "No space left on device" in err[0], err
        assert "free space there" in err[0] and "unexpected" not in err[0], err
        (disk / "fill").unlink()
        assert main(["resume", "full", "--storage", url]) == 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
