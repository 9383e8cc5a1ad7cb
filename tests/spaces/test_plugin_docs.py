"""Every registered plug-in name is documented in docs/spaces.md, in its point's table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hpsearch.spaces import REGISTRIES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "spaces.md").read_text()
HEADINGS = {
    "sampler": "### Samplers",
    "pruner": "### Pruners",
    "method": "### Fine-tuning methods",
    "task": "### Task kinds",
}
ROWS = [(point, entry.name) for point, registry in REGISTRIES.items() for entry in registry]


def section(heading: str) -> str:
    start = DOC.index(heading)
    end = DOC.find("\n#", start + len(heading))
    return DOC[start : end if end != -1 else len(DOC)]


def test_every_point_has_a_section() -> None:
    assert set(HEADINGS) == set(REGISTRIES)


@pytest.mark.parametrize(("point", "name"), ROWS, ids=[f"{p}:{n}" for p, n in ROWS])
def test_registered_name_is_documented(point: str, name: str) -> None:
    table = section(HEADINGS[point])
    entry = REGISTRIES[point].get(name)
    row = re.search(rf"^\| `{re.escape(name)}` \| `([^`]+)` \| (.+) \|$", table, re.M)
    assert row, f"docs/spaces.md, {HEADINGS[point]}: no row for `{name}`"
    assert row.group(1) == entry.target, (name, row.group(1), entry.target)
    assert len(row.group(2).strip()) > 10, name


def test_documented_names_are_registered() -> None:
    for point, heading in HEADINGS.items():
        names = re.findall(r"^\| `([^`]+)` \|", section(heading), re.M)
        assert set(names) == set(REGISTRIES[point].names), point
