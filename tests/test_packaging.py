"""The built wheel installs every subpackage under the single ``hpsearch`` namespace."""

from __future__ import annotations

import ast
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


def _imported_modules(source: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in ``source`` names (at any depth)."""
    tree = ast.parse(source.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _imports(source: Path, package: str) -> bool:
    return any(m == package or m.startswith(package + ".") for m in _imported_modules(source))


def test_layers_import_one_way() -> None:
    """spaces imports no optuna/ray/torch nor any other layer; trainers imports only spaces
    (its typed settings and registries) and knows nothing of optuna or ray."""
    code = (
        "import sys; import hpsearch.spaces as s; s.load_space('lora_small');"
        "bad = [m for m in ('optuna', 'ray', 'torch') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    for source in ROOT.joinpath("trainers").rglob("*.py"):
        for forbidden in ("optuna", "ray", "hpsearch.search", "hpsearch.storage"):
            assert not _imports(source, forbidden), (source.name, forbidden)
    for layer in ("spaces", "storage"):
        for source in ROOT.joinpath(layer).rglob("*.py"):
            for forbidden in ("hpsearch.search", "hpsearch.trainers", "ray"):
                assert not _imports(source, forbidden), (source.name, forbidden)
    for source in ROOT.joinpath("spaces").rglob("*.py"):
        for forbidden in ("optuna", "torch", "transformers", "hpsearch.storage"):
            assert not _imports(source, forbidden), (source.name, forbidden)
