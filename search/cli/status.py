"""``hpsearch status [STUDY] [--watch] [--json]``: counts, best so far and ETA."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from hpsearch.search.cli import _args
from hpsearch.search.cli._common import add_storage_flag, emit
from hpsearch.storage import study_id_of

_FIRST_RUN = "hpsearch run --space lora_small"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "status", help="running/complete/pruned/failed trials, the best so far and an ETA"
    )
    parser.add_argument(
        "study",
        type=_args.text,
        metavar="STUDY",
        nargs="?",
        help="one study (default: every study)",
    )
    add_storage_flag(parser)
    parser.add_argument(
        "--watch",
        action="store_true",
        help="refresh every --interval seconds until the studies are done (or Ctrl-C)",
    )
    parser.add_argument(
        "--interval",
        type=_args.interval,
        default=5.0,
        metavar="S",
        help="--watch refresh period",
    )
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (one object per refresh)"
    )
    parser.add_argument(
        "--no-live",
        action="store_true",
        help="--watch prints a table per refresh even in a terminal (default there: a live "
        "view redrawn in place, with a line per running trial)",
    )
    parser.set_defaults(func=cmd_status)


def _study_ids(storage: Any, study: str | None, display: str) -> list[int]:
    from hpsearch.storage import StudyNotFoundError, list_study_names

    if storage is None:  # the database has no study yet (nothing was created to find out)
        if study is not None:
            raise StudyNotFoundError(study, [], display)
        return []
    if study is None:
        return [
            study_id_of(s) for s in sorted(storage.get_all_studies(), key=lambda s: s.study_name)
        ]
    try:
        return [storage.get_study_id_from_name(study)]
    except KeyError:
        raise StudyNotFoundError(study, list_study_names(storage), display) from None


def _snapshot(storage: Any, study: str | None, display: str) -> list[Any]:
    from hpsearch.search.records import overview

    return [overview(storage, study_id) for study_id in _study_ids(storage, study, display)]


def _show(rows: list[Any], args: argparse.Namespace, display: str) -> None:
    from hpsearch.search.records import render_table

    if args.json:
        emit(json.dumps({"storage": display, "studies": [r.to_json() for r in rows]}))
        return
    if args.watch:
        emit(time.strftime("%H:%M:%S") + f"  {display}")
    if not rows:
        emit(f"no studies in {display}; start one with: {_FIRST_RUN}")
        return
    for line in render_table(rows):
        emit(line)
    for row in rows:
        if row.compute_line:
            emit(f"{row.name}: {row.compute_line}")
    for row in rows:
        if row.state == "stopped" and not args.watch:
            emit(f"{row.name}: no trial is running; continue it with: hpsearch resume {row.name}")


def cmd_status(args: argparse.Namespace) -> int:
    from hpsearch.search.outputs import live_wanted
    from hpsearch.storage import open_existing_storage, resolve_storage, validate_study_name

    if args.study is not None:
        validate_study_name(args.study)
    location = resolve_storage(args.storage)
    if args.watch and not args.json and live_wanted(disabled=args.no_live):
        return _watch_live(args, location)
    storage = None
    while True:
        if storage is None:  # reading only: an empty or missing database is not created
            storage = open_existing_storage(location)
        rows = _snapshot(storage, args.study, location.display)
        _show(rows, args, location.display)
        if not args.watch or (rows and all(r.state == "done" for r in rows)):
            return 0
        try:
            time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def _watch_live(args: argparse.Namespace, location: Any) -> int:
    """``status --watch`` in a terminal: the live view ``hpsearch run`` shows, of every study
    asked for, redrawn in place every --interval seconds until they are done (or Ctrl-C)."""
    from hpsearch.search.outputs import TerminalView
    from hpsearch.search.records import live_study
    from hpsearch.storage import open_existing_storage

    storage = None
    with TerminalView(lambda: [], poll=False) as view:
        while True:
            if storage is None:  # reading only: an empty or missing database is not created
                storage = open_existing_storage(location)
            ids = _study_ids(storage, args.study, location.display)
            studies = [] if storage is None else [live_study(storage, i) for i in ids]
            note = f"{time.strftime('%H:%M:%S')}  {location.display}  (Ctrl-C to stop)"
            if not studies:
                note = f"no studies in {location.display}; start one with: {_FIRST_RUN}"
            view.update(studies, note)
            if studies and all(s.overview.state == "done" for s in studies):
                return 0
            try:
                time.sleep(args.interval)
            except KeyboardInterrupt:
                return 0
