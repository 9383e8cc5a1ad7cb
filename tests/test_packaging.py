"""The built wheel installs every subpackage under the single ``hpsearch`` namespace."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("hpsearch-*.whl")
    return built


def test_wheel_contains_every_subpackage(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("spaces", "spaces/builtin", "storage", "trainers", "search", "search/cli"):
        assert f"hpsearch/{package}/__init__.py" in names, package
    for space in ("lora_small", "full_ft", "qlora", "seed_grid"):
        assert f"hpsearch/spaces/builtin/{space}.yaml" in names
    # the JSON Schema the built-in spaces' first line points editors at (../space.schema.json)
    assert "hpsearch/spaces/space.schema.json" in names
    top_levels = {n.split("/")[0] for n in names}
    assert top_levels <= {"hpsearch", next(n for n in top_levels if n.endswith(".dist-info"))}
    for source in ROOT.joinpath("search").rglob("*.py"):
        assert "hpsearch/" + str(source.relative_to(ROOT)) in names, source


def test_wheel_declares_the_console_script(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
    assert "hpsearch = hpsearch.search.cli.main:entry" in archive.read(entry_points).decode()


def test_layers_import_one_way() -> None:
    """spaces imports no optuna/ray/torch; trainers knows nothing of optuna, ray or storage."""
    code = (
        "import sys; import hpsearch.spaces as s; s.load_space('lora_small');"
        "bad = [m for m in ('optuna', 'ray', 'torch') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    for source in ROOT.joinpath("trainers").rglob("*.py"):
        text = source.read_text()
        for forbidden in (
            "import optuna",
            "from optuna",
            "import ray",
            "from ray",
            "hpsearch.search",
            "hpsearch.storage",
        ):  # spaces is the layer below (its typed spec, the HpsearchError base): allowed
            assert forbidden not in text, (source.name, forbidden)
    for layer in ("spaces", "storage"):
        for source in ROOT.joinpath(layer).rglob("*.py"):
            text = source.read_text()
            for forbidden in ("hpsearch.search", "hpsearch.trainers", "import ray"):
                assert forbidden not in text, (source.name, forbidden)
