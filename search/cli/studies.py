"""``hpsearch studies``: every study in the storage."""

from __future__ import annotations

import argparse
import json

from hpsearch.search.cli._common import add_storage_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("studies", help="every study in the storage")
    add_storage_flag(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=cmd_studies)


def cmd_studies(args: argparse.Namespace) -> int:
    from hpsearch.search.records import all_overviews
    from hpsearch.storage import open_existing_storage, resolve_storage

    location = resolve_storage(args.storage)
    storage = open_existing_storage(location)  # creates nothing, not even an empty database
    rows = all_overviews(storage) if storage is not None else []
    if args.json:
        emit(json.dumps([r.to_json() for r in rows]))
        return 0
    if not rows:
        emit(f"no studies in {location.display}; start one with: hpsearch run --space lora_small")
        return 0
    table = [["STUDY", "SPACE", "DIRECTION", "TRIALS", "FINISHED", "BEST", "STATE", "STARTED"]]
    for r in rows:
        table.append(
            [
                r.name,
                r.space or "-",
                r.direction,
                str(r.trials),
                r.progress,
                f"{r.metric} {r.best}" if r.best_value is not None else "-",
                r.state,
                (r.started or "-").replace("T", " "),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        emit("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0
