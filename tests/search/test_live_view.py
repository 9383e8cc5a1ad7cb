"""The live terminal view: under a real pseudo-terminal, ``hpsearch run`` and ``hpsearch status
--watch`` redraw one block in place with a line per running trial (its step, newest objective
value, elapsed), the counts, best and ETA; piped, ``hpsearch run`` prints its plain lines."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import optuna
import pytest
from rich.console import Console

from hpsearch.search.outputs import render_live
from hpsearch.search.records import (
    LiveStudy,
    RunningRow,
    StudyOverview,
    fmt_value,
    running_rows,
)
from hpsearch.storage import storage_of, study_id_of
from tests.faults.harness import kill_tree, start_cli, wait_for
from tests.helpers import hpsearch_argv, write_simulated_space

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# A live row: "  trial 3  <bar>  step 25/40  eval_loss 0.7053  4s" (a plain line has "trial 3:")
ROW = re.compile(r"^ +trial (\d+) +.*?step (-|\d+)/40 +eval_loss (\S+) +(\S+)\s*$")
CURSOR_UP, ERASE_LINE = b"\x1b[1A", b"\x1b[2K"


def run_in_pty(argv: list[str], *, cols: int = 130, rows: int = 40, timeout: float = 300) -> bytes:
    """Run ``argv`` with stdin, stdout and stderr on a new pseudo-terminal; all it wrote."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                out += data
            elif proc.poll() is not None:
                break  # exited, and nothing more to read (a leftover child may hold the pty)
            if time.monotonic() > deadline:
                kill_tree(proc)  # type: ignore[arg-type]
                pytest.fail(
                    f"{argv[3:]} did not finish in {timeout}s:\n{_text(bytes(out))[-3000:]}"
                )
        assert proc.wait(timeout=60) == 0, _text(bytes(out))[-3000:]
    finally:
        os.close(master)
    return bytes(out)


def _text(raw: bytes) -> str:
    return ANSI.sub(b"", raw).decode(errors="replace")


def frames(raw: bytes, study: str) -> list[tuple[str, list[tuple[int, str, str]]]]:
    """Each drawing of the view: its header, and its rows (trial, step, value)."""
    out: list[tuple[str, list[tuple[int, str, str]]]] = []
    for line in re.split(r"[\r\n]+", _text(raw)):
        if line.startswith(f"{study}  "):
            out.append((line, []))
        elif out and (row := ROW.match(line)):
            out[-1][1].append((int(row[1]), row[2], row[3]))
    return out


def study_of(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def check_rows_match_the_study(
    shown: list[tuple[str, list[tuple[int, str, str]]]], study: optuna.Study
) -> None:
    trials = {t.number: t for t in study.trials}
    for _, rows in shown:
        for number, step, value in rows:
            if step != "-":  # the value shown is the one reported at that step
                assert value == fmt_value(trials[number].intermediate_values[int(step)])


def write_space(tmp_path: Path) -> str:
    return write_simulated_space(
        tmp_path,
        "live.yaml",
        name="live",
        trials=6,
        sampler={"type": "random"},
        pruner={"type": "none"},
        retries=None,
        task={"max_steps": 40, "simulated": {"seconds_per_step": 0.1}},
    )


@pytest.mark.slow
def test_run_in_a_terminal_redraws_every_running_trial_in_place(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    raw = run_in_pty(
        hpsearch_argv(
            "run",
            "--space",
            write_space(tmp_path),
            "--study",
            "live-pty",
            "--storage",
            url,
            "--workers",
            "3",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        )
    )
    # redrawn in place: rich moves the cursor up over the block and erases it, many times
    assert raw.count(CURSOR_UP) > 10 and raw.count(ERASE_LINE) > 10, _text(raw)[-2000:]
    shown = frames(raw, "live-pty")
    assert len(shown) > 10, _text(raw)[-2000:]
    study = study_of(url, "live-pty")
    assert max(len({n for n, _, _ in rows}) for _, rows in shown) == 3  # all three workers' trials
    assert {n for _, rows in shown for n, _, _ in rows} == {t.number for t in study.trials}
    check_rows_match_the_study(shown, study)
    assert any(step != "-" for _, rows in shown for _, step, _ in rows)
    final = shown[-1][0]
    assert " done " in final and "6/6 finished" in final and "best eval_loss" in final, final
    text = _text(raw)
    assert "trial 0: started on worker" in text  # the log lines stay, above the view
    assert not re.search(r"^\[\d+m?\d*s\] \d+/6 finished", text, re.M)  # no periodic status lines
    assert "Study 'live-pty': 6/6 trials finished" in text


@pytest.mark.slow
def test_piped_run_prints_plain_lines_and_status_watch_draws_the_live_view(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    log = tmp_path / "run.log"
    run = start_cli(
        [
            "run",
            "--space",
            write_space(tmp_path),
            "--study",
            "live-pipe",
            "--storage",
            url,
            "--workers",
            "2",
            "--checkpoint-dir",
            str(tmp_path / "ck"),
        ],
        log=log,
    )
    try:
        wait_for(lambda: "started on worker" in log.read_text(), 180, "the first trial")
        raw = run_in_pty(
            hpsearch_argv("status", "live-pipe", "--storage", url, "--watch", "--interval", "0.5")
        )
        assert run.wait(timeout=300) == 0, log.read_text()[-3000:]
    finally:
        if run.poll() is None:
            kill_tree(run)
    plain = log.read_text()
    assert "\x1b" not in plain, "escape sequences in piped output"
    assert (
        "trial 0: started on worker" in plain and "Study 'live-pipe': 6/6 trials finished" in plain
    )
    assert raw.count(CURSOR_UP) > 5 and raw.count(ERASE_LINE) > 5, _text(raw)[-2000:]
    shown = frames(raw, "live-pipe")
    assert max(len(rows) for _, rows in shown) == 2, _text(raw)[-2000:]  # both running trials
    check_rows_match_the_study(shown, study_of(url, "live-pipe"))
    assert " done " in shown[-1][0] and "6/6 finished" in shown[-1][0]


def _overview(**counts: int) -> StudyOverview:
    fields = dict(running=0, waiting=0, complete=0, pruned=0, failed=0, retried=0, pending_retry=0)
    fields.update(counts)
    finished = fields["complete"] + fields["pruned"] + fields["failed"]
    return StudyOverview(
        name="s",
        study_id=1,
        direction="minimize",
        metric="eval_loss",
        space="sim",
        budget=10,
        state="running",
        finished=finished,
        trials=finished + fields["running"],
        eta_s=75.0,
        best_value=0.25,
        best_number=2,
        **fields,
    )


def test_the_view_shows_counts_best_eta_and_each_running_trial() -> None:
    rows = tuple(RunningRow(n, 5 * n or None, 1.0 / (n + 1), 3.0) for n in range(4))
    study = LiveStudy(_overview(running=4, complete=3, pruned=2, failed=1), rows, max_step=40)
    console = Console(record=True, width=140, force_terminal=True)
    console.print(render_live([study], now=study.read_at + 60))
    text = console.export_text()
    header = text.splitlines()[0]
    for part in (
        "6/10 finished",
        "3 complete",
        "2 pruned",
        "1 failed",
        "4 running",
        "best eval_loss 0.25 (#2)",
        "ETA 1m15s",
    ):
        assert part in header, (part, header)
    lines = [ROW.match(line) for line in text.splitlines()[1:]]
    assert [(int(m[1]), m[2], m[3], m[4]) for m in lines if m] == [
        (0, "-", "1", "1m03s"),
        (1, "5", "0.5", "1m03s"),
        (2, "10", "0.3333", "1m03s"),
        (3, "15", "0.25", "1m03s"),
    ]


def test_more_running_trials_than_fit_are_counted() -> None:
    rows = tuple(RunningRow(n, 5, 0.5, 1.0) for n in range(30))
    study = LiveStudy(_overview(running=30), rows, max_step=40)
    console = Console(record=True, width=140, force_terminal=True)
    console.print(render_live([study], height=12))
    text = console.export_text()
    assert len(text.splitlines()) <= 12
    shown = sum(1 for line in text.splitlines() if ROW.match(line))
    assert f"... and {30 - shown} more running" in text


def test_running_rows_on_a_storage_without_the_lean_query() -> None:
    """Any Optuna storage works (here the in-memory one): running trials only, newest value."""
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    first = study.ask()
    first.report(0.9, 10)
    first.report(0.4, 20)
    study.ask()
    done = study.ask()
    study.tell(done, 1.0)
    rows = running_rows(storage_of(study), study_id_of(study))
    assert [(r.number, r.step, r.value) for r in rows] == [(0, 20, 0.4), (1, None, None)]
    assert all(r.running_for_s >= 0 for r in rows)
