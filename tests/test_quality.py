"""ruff and mypy stay clean (the same checks as the pre-commit hooks)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; install the dev extra: pip install -e '.[dev]'")
    return found


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    result = subprocess.run(
        [_tool("mypy")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the code rules: file size, private modules ------------------------------------------
# Source folder -> the dotted name its modules are imported under.
PACKAGE_DIRS = {
    "spaces": "hpsearch.spaces",
    "storage": "hpsearch.storage",
    "trainers": "hpsearch.trainers",
    "search": "hpsearch.search",
}
CHECKED_DIRS = {**PACKAGE_DIRS, "benchmarks": "benchmarks", "tests": "tests"}
# Packages whose private modules are checked (third-party internals, e.g. ``optuna._x``, are
# the storage adapter's business and pinned by tests/storage/test_contract.py).
OWN_TOPS = ("hpsearch", "benchmarks", "tests")
MAX_LINES = 400


def _python_files(dirs: dict[str, str]) -> list[Path]:
    """The project's own Python files: nothing under a hidden folder (the peer benchmarks'
    virtualenvs in ``benchmarks/sample_efficiency_peers/.envs``, caches)."""
    return sorted(
        f
        for folder in dirs
        for f in (ROOT / folder).rglob("*.py")
        if not any(part.startswith(".") for part in f.relative_to(ROOT).parts)
    )


def test_no_file_over_the_line_limit() -> None:
    too_long = []
    for path in _python_files(PACKAGE_DIRS):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_long, f"split these files by concern (at most {MAX_LINES} lines): {too_long}"


def module_name(path: Path) -> tuple[str, bool]:
    """The dotted module name of a source file, and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts[0:1] = CHECKED_DIRS[parts[0]].split(".")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a source module (a file, not a package) of this repository."""
    parts = dotted.split(".")
    for folder, name in CHECKED_DIRS.items():
        prefix = name.split(".")
        if parts[: len(prefix)] == prefix:
            return (ROOT / folder).joinpath(*parts[len(prefix) :]).with_suffix(".py").is_file()
    return False


def private_owner(target: str, *, imported_name: bool) -> str | None:
    """The package a private import ``target`` belongs to, or None when it is public.

    ``pkg._mod`` (and anything under it) is private to ``pkg``; a private name imported from a
    module (``from pkg.mod import _helper``) is private to that module's package.
    """
    parts = target.split(".")
    if parts[0] not in OWN_TOPS:
        return None
    for i, part in enumerate(parts):
        if _is_private(part):
            owner = ".".join(parts[:i])
            if imported_name and i == len(parts) - 1 and _is_module(owner):
                owner = owner.rpartition(".")[0]
            return owner
    return None


def private_imports(path: Path) -> list[str]:
    """Every import in ``path`` of a private module (or name) of a package it is not inside."""
    name, is_package = module_name(path)
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        targets: list[tuple[str, bool]] = []
        if isinstance(node, ast.Import):
            targets = [(alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [(f"{base}.{alias.name}", True) for alias in node.names]
        for target, imported_name in targets:
            owner = private_owner(target, imported_name=imported_name)
            if owner is not None and not (name + ".").startswith(owner + "."):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {target}")
    return found


def test_private_owner_rules() -> None:
    """The rule itself, on names that exist in this tree."""
    assert private_owner("hpsearch.search.engine._driver.Driver", imported_name=True) == (
        "hpsearch.search.engine"
    )
    assert private_owner("hpsearch.search.engine.Driver", imported_name=True) is None
    assert private_owner("optuna.storages._rdb.models", imported_name=False) is None
    # a private helper of a module is private to the module's package
    assert private_owner("tests.faults.harness._helper", imported_name=True) == ("tests.faults")
    # a private module imported by name from its package
    assert private_owner("hpsearch.trainers._failpoints", imported_name=True) == (
        "hpsearch.trainers"
    )


def test_private_imports_are_found(tmp_path: Path) -> None:
    """The checker reports a sibling subpackage's private module and accepts its own."""
    probe = ROOT / "search" / "cli" / "_probe_private_import.py"
    probe.write_text(
        "from hpsearch.search.engine._driver import Driver\n"
        "from hpsearch.search.cli._args import text\n"
        "from . import _common\n"
        "from ..outputs import _export\n",
        encoding="utf-8",
    )
    try:
        found = private_imports(probe)
    finally:
        probe.unlink()
    assert [line.split(": ", 1)[1] for line in found] == [
        "imports hpsearch.search.engine._driver.Driver",
        "imports hpsearch.search.outputs._export",
    ]


# The profilers time the internals by wrapping functions where they are looked up (a module's
# globals, e.g. ``_driver.sample_params``): they need the private module objects themselves.
# They only read the clock around the real code; nothing else may be listed here.
PROFILER_IMPORTS = {
    "benchmarks/service_overhead/profile.py": {
        "hpsearch.search.engine._budget",
        "hpsearch.search.engine._driver",
        "hpsearch.search.engine._ray_pool",
        "hpsearch.search.records._progress",
        "hpsearch.storage._locks",
    },
    "benchmarks/service_overhead/worker_profile.py": {
        "hpsearch.search.engine._optuna_reporter",
        "hpsearch.search.engine._worker",
        "hpsearch.trainers._checkpoints",
        "hpsearch.trainers._simulated",
    },
    "benchmarks/storage_scale/worker.py": {"hpsearch.storage._locks"},
}


def test_no_private_imports_across_packages() -> None:
    """Nothing outside a package imports its ``_private`` modules; a subpackage of search uses
    its siblings' public faces (their ``__init__``) only. Tests and benchmarks included."""
    found, profiler_use = [], set()
    for path in _python_files(CHECKED_DIRS):
        relative = str(path.relative_to(ROOT))
        for line in private_imports(path):
            target = line.rsplit(" imports ", 1)[1]
            if target in PROFILER_IMPORTS.get(relative, ()):
                profiler_use.add((relative, target))
            else:
                found.append(line)
    assert not found, "import the package's public names instead:\n" + "\n".join(found)
    listed = {(path, target) for path, targets in PROFILER_IMPORTS.items() for target in targets}
    assert listed == profiler_use, f"PROFILER_IMPORTS lists unused imports: {listed - profiler_use}"
