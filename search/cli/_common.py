"""Shared CLI helpers: output, storage flags."""

from __future__ import annotations

import argparse
import sys


def emit(line: str = "") -> None:
    print(line, flush=True)


def add_storage_flag(parser: argparse.ArgumentParser) -> None:
    from hpsearch.search.cli._args import text

    parser.add_argument(
        "--storage",
        type=text,
        metavar="URL",
        help="database URL (postgresql://user@host:5432/db or sqlite:///file.db); default: "
        "$HPSEARCH_STORAGE, else the embedded SQLite file under ~/.hpsearch. Prefer "
        "HPSEARCH_STORAGE or ~/.pgpass for passwords: a command line is visible to other users",
    )


def warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)
