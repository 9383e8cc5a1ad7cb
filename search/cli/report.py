"""``hpsearch report STUDY --out report.html``: a self-contained HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path

from hpsearch.search.cli import _args
from hpsearch.search.cli._common import add_storage_flag, emit


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "report",
        help="a self-contained HTML report: Optuna's plots, the best configuration, "
        "pruning savings",
    )
    parser.add_argument("study", type=_args.text, metavar="STUDY")
    add_storage_flag(parser)
    parser.add_argument(
        "--out",
        type=_args.text,
        metavar="FILE",
        default=None,
        help="where to write the report (default: STUDY-report.html)",
    )
    parser.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from hpsearch.search.outputs import build_report
    from hpsearch.storage import load_study_read_only, resolve_storage

    out = Path(args.out or f"{args.study}-report.html").expanduser()
    if out.is_dir():
        raise IsADirectoryError(21, "--out names a folder; pass a file name", str(out))
    if not out.parent.is_dir():  # only the file is created, never folders
        from hpsearch.search.engine import InputError

        raise InputError(
            f"--out {out}: {out.parent} is not an existing folder; create it first or "
            "pass a file in an existing folder"
        )
    study = load_study_read_only(resolve_storage(args.storage), args.study)
    text = build_report(study)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    emit(f"Report for study {study.study_name!r} written to {out} ({len(text) / 2**20:.1f} MB)")
    return 0
