"""A space document is bounded: alias bombs, deep nesting, huge files and bad encodings are one
clear issue naming the limit and the place, found in well under a second; duplicate keys and
bad names are rejected instead of silently changed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpsearch.spaces import SpaceError, load_space_dict, load_space_file, load_space_text

PARAMS = "params:\n  learning_rate: 1.0e-4\n"


def laughs(indent: str, levels: int = 9) -> str:
    """A billion laughs: each level is nine aliases of the one before (9^9 values)."""
    lines = [f"{indent}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"{indent}l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


BOMBS = {
    "task.simulated": PARAMS
    + "task:\n  type: simulated\n  max_steps: 4\n  simulated:\n"
    + laughs("    "),
    "params.fsdp_config.value": "params:\n  learning_rate: 1.0e-4\n  fsdp_config:\n"
    "    type: fixed\n    value:\n" + laughs("      "),
    "sampler": PARAMS + "sampler:\n  type: tpe\n" + laughs("  "),
}


def rejected(text: str, source: str = "space") -> list[str]:
    start = time.perf_counter()
    with pytest.raises(SpaceError) as info:
        load_space_text(text, source=source)
    assert time.perf_counter() - start < 5, "a bounded document must be rejected quickly"
    return [str(issue) for issue in info.value.issues]


@pytest.mark.parametrize("where", BOMBS)
def test_alias_bomb_is_rejected_at_its_place(where: str) -> None:
    (issue,) = rejected(BOMBS[where])
    assert issue.startswith(where), issue
    assert "more than 20000 values" in issue and "alias *l" in issue and "line " in issue


def test_aliases_cannot_amplify_text_past_the_size_limit() -> None:
    big = "x" * 300_000
    (issue,) = rejected(PARAMS + f"task:\n  simulated:\n    s: &s {big}\n    t: [*s, *s, *s, *s]\n")
    assert issue.startswith("task.simulated.t[") and "1.0 MiB of text" in issue


def test_recursive_alias_is_rejected() -> None:
    (issue,) = rejected(PARAMS + "task: &t {simulated: {x: *t}}\n")
    assert issue.startswith("task.simulated.x") and "recursive" in issue


@pytest.mark.parametrize(
    "text",
    [
        PARAMS + "task: {simulated: {x: " + "[" * 5000 + "]" * 5000 + "}}\n",
        PARAMS + "a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40,
    ],
    ids=["5000-deep", "deep-through-an-alias"],
)
def test_nesting_is_bounded(text: str) -> None:
    (issue,) = rejected(text)
    assert "64 levels" in issue and "line " in issue, issue


def test_a_space_over_one_mib_is_rejected_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(PARAMS.encode() + b"description: '" + b"x" * (50 * 1024 * 1024) + b"'\n")
    with pytest.raises(SpaceError) as info:
        load_space_file(path)
    assert str(path) in str(info.value) and "50.0 MiB" in str(info.value)
    assert "1048576 bytes" in str(info.value)
    (issue,) = rejected(PARAMS + "description: '" + "x" * (1024 * 1024) + "'\n")
    assert "the limit is 1.0 MiB" in issue


def test_a_plain_dict_is_bounded_too() -> None:
    data: dict = {"params": {"learning_rate": 1e-4}, "task": {"simulated": {}}}
    data["task"]["simulated"]["me"] = data  # contains itself
    with pytest.raises(SpaceError, match="64 levels"):
        load_space_dict(data)


def test_non_utf8_file_is_one_clear_issue(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(PARAMS.encode() + "description: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(SpaceError) as info:
        load_space_file(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "not UTF-8" in message and "line 3" in message


def test_duplicate_keys_are_rejected_at_every_level_with_their_lines() -> None:
    found = rejected(
        "trials: 2\nparams:\n  learning_rate: 1.0e-4\n  learning_rate: 2.0e-4\n"
        "task: {simulated: {noise: 0, noise: 1}}\ntrials: 5\n"
    )
    assert any(i.startswith("trials: duplicate key") and "lines 1 and 6" in i for i in found)
    assert any(i.startswith("params.learning_rate:") and "lines 3 and 4" in i for i in found)
    assert any(i.startswith("task.simulated.noise:") and "twice on line 5" in i for i in found)


def test_merge_keys_may_still_override() -> None:
    space = load_space_text(
        "params:\n  weight_decay: &b {type: float, low: 0.0, high: 0.1}\n"
        "  adam_beta2: {<<: *b, low: 0.9, high: 0.99}\n"
    )
    assert space.param("adam_beta2").high == 0.99  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["n" * 600, "bad/name\nx", "a b", "-lead", ""])
def test_space_names_are_never_rewritten(name: str) -> None:
    (issue,) = rejected(f"name: {name!r}\n" + PARAMS)
    assert issue.startswith("name:"), issue


def test_a_file_name_with_odd_characters_gives_a_valid_name(tmp_path: Path) -> None:
    path = tmp_path / "my space (v2).yaml"
    path.write_text(PARAMS)
    assert load_space_file(path).name == "my-space-v2"
