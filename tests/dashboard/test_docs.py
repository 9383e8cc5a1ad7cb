"""The commands shown in docs/dashboard.md and the README's "Watch a study" parse with the real
CLI, and the README's screenshot exists."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands(text: str) -> list[list[str]]:
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line.startswith("hpsearch "):
                out.append(shlex.split(line)[1:])
    return out


def _watch_section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Watch a study", 1)[1].split("\n## ", 1)[0]


def test_documented_commands_parse() -> None:
    from hpsearch.search.cli.dashboard import add_run_flags
    from hpsearch.search.cli.main import build_parser

    commands = _commands((ROOT / "docs" / "dashboard.md").read_text())
    commands += _commands(_watch_section())
    names = set()
    for argv in commands:
        names.add(argv[0])
        if argv[0] == "run" and "--dashboard" in argv:
            # the --dashboard flags as the run command registers them (add_run_flags)
            run_flags = argparse.ArgumentParser()
            add_run_flags(run_flags)
            run_flags.parse_args([a for a in argv[1:] if a.startswith(("--dashboard", "--allow"))])
            continue
        build_parser().parse_args(argv)
    assert {"dashboard", "status", "studies", "best", "report"} <= names, names


def test_readme_screenshot_is_a_real_png() -> None:
    image = ROOT / "docs" / "images" / "dashboard.png"
    assert "docs/images/dashboard.png" in _watch_section()
    header = image.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert width >= 800 and height >= 400
