"""Every space example in the docs validates, like the built-in spaces (litgpt-style)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpsearch.search.engine import build_task, validate_run
from hpsearch.spaces import load_space_text

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCKS = [
    (path.name, i, block)
    for path in sorted(DOCS.glob("*.md"))
    for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", path.read_text(), re.S))
    if "params:" in block
]


def test_the_docs_have_space_examples() -> None:
    assert len([b for b in BLOCKS if b[0] == "spaces.md"]) >= 6


@pytest.mark.parametrize(("doc", "index", "block"), BLOCKS, ids=[f"{d}#{i}" for d, i, _ in BLOCKS])
def test_documented_space_is_valid(doc: str, index: int, block: str) -> None:
    space = load_space_text(block, source=f"{doc} example {index}")
    assert validate_run(space, build_task(space, {})) == []
