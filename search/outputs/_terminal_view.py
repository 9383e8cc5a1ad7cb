"""A live terminal view of running studies (``hpsearch run`` and ``hpsearch status --watch``).

In a terminal, one block per study is redrawn in place (rich's ``Live``, as Ray's and Hugging
Face's progress output do): the counts, the best value so far and an ETA, then one line per
running trial with its step out of the trial's last step, its newest objective value and how
long it has run. Lines printed meanwhile (trial started, trial finished) scroll above the
block. Where the output is not a terminal (CI, ``nohup``, a file, a pipe) nothing of this runs
and the plain log lines stay as they are: :func:`live_wanted` decides.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Any, TextIO

from optuna.storages import BaseStorage
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hpsearch.search.records import LiveStudy, fmt_duration, fmt_value, live_study

REFRESH_PER_SECOND = 4  # redraws (the elapsed times tick); the data is read less often
READ_SHARE = 10  # wait at least 10x as long as the last read took before reading again


def live_wanted(stream: TextIO | None = None, *, disabled: bool = False) -> bool:
    """Draw a live view on ``stream`` (default: stdout)? Only on a real, capable terminal."""
    if disabled:
        return False
    console = Console(file=stream) if stream is not None else Console()
    return console.is_terminal and not console.is_dumb_terminal


def _header(study: LiveStudy) -> Text:
    o = study.overview
    finished = f"{o.finished}/{o.budget}" if o.budget else str(o.finished)
    text = Text()
    text.append(o.name, style="bold")
    text.append(f"  {o.state}  ", style="cyan" if o.state == "running" else "dim")
    text.append(f"{finished} finished (")
    text.append(f"{o.complete} complete", style="green")
    text.append(", ")
    text.append(f"{o.pruned} pruned", style="yellow")
    text.append(", ")
    text.append(f"{o.failed} failed", style="red" if o.failed else "")
    if o.retried:
        text.append(f", {o.retried} retried")
    text.append(f"), {o.running} running")
    best = f"{o.metric} {o.best}" if o.best_value is not None else "no complete trial yet"
    text.append(f" | best {best}" if o.best_value is not None else f" | {best}")
    if o.compute_line:
        text.append(f" | {o.compute_line}")
    text.append(f" | ETA {o.eta}")
    return text


def _trial_rows(study: LiveStudy, now: float, room: int) -> RenderableType:
    metric = study.overview.metric
    grid = Table.grid(padding=(0, 2))
    for _ in range(5):
        grid.add_column(no_wrap=True)
    shown = study.running if len(study.running) <= room else study.running[: max(1, room - 1)]
    for row in shown:
        total = study.max_step
        step = "-" if row.step is None else str(row.step)
        bar: RenderableType = (
            ProgressBar(total=total, completed=min(row.step or 0, total), width=20)
            if total
            else Text("")
        )
        grid.add_row(
            Text(f"  trial {row.number}"),
            bar,
            Text(f"step {step}/{total}" if total else f"step {step}"),
            Text(f"{metric} {fmt_value(row.value)}"),
            Text(fmt_duration(row.running_for_s + max(0.0, now - study.read_at))),
        )
    hidden = len(study.running) - len(shown)
    if hidden:
        grid.add_row(Text(f"  ... and {hidden} more running"), Text(""), "", "", "")
    return grid


def render_live(
    studies: Sequence[LiveStudy], *, now: float | None = None, height: int = 50, note: str = ""
) -> RenderableType:
    """The view of ``studies``: a header per study and a line per running trial (at most as
    many lines as ``height`` leaves; the rest are counted)."""
    now = time.monotonic() if now is None else now
    parts: list[RenderableType] = []
    room = max(2, height - 2 * len(studies) - (1 if note else 0) - 1)
    for study in studies:
        parts.append(_header(study))
        if study.running:
            share = max(2, room // max(1, sum(1 for s in studies if s.running)))
            parts.append(_trial_rows(study, now, share))
    if not studies:
        parts.append(Text("no studies yet"))
    if note:
        parts.append(Text(note, style="dim"))
    return Group(*parts)


class TerminalView:
    """Keeps a :func:`render_live` of the newest snapshot on screen while the block runs.

    ``read`` returns the snapshot; given ``poll=True`` a background thread calls it (at least
    ``interval`` seconds apart, and never more than a tenth of the time: a slow read on a huge
    study is not repeated back to back), otherwise the caller hands snapshots to
    :meth:`update`. Anything printed or logged meanwhile appears above the view.
    """

    def __init__(
        self,
        read: Callable[[], list[LiveStudy]],
        *,
        poll: bool = True,
        interval: float = 1.0,
        console: Console | None = None,
    ) -> None:
        self._read = read
        self._poll = poll
        self._interval = interval
        self._console = console or Console()
        self._latest: list[LiveStudy] = []
        self._note = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    @property
    def latest(self) -> list[LiveStudy]:
        with self._lock:
            return list(self._latest)

    def update(self, studies: list[LiveStudy], note: str = "") -> None:
        with self._lock:
            self._latest, self._note = list(studies), note
        if self._live is not None:
            self._live.refresh()

    def _renderable(self) -> RenderableType:
        with self._lock:
            studies, note = list(self._latest), self._note
        return render_live(studies, height=self._console.height, note=note)

    def _read_once(self) -> float:
        started = time.monotonic()
        try:
            studies = self._read()
        except Exception as exc:  # a database blip: keep the last snapshot on screen
            with self._lock:
                self._note = f"(reading the study failed: {type(exc).__name__}; retrying)"
        else:
            self.update(studies)
        return time.monotonic() - started

    def _loop(self) -> None:
        wait = self._interval
        while not self._stop.wait(wait):
            wait = max(self._interval, READ_SHARE * self._read_once())

    def __enter__(self) -> TerminalView:
        if self._poll:
            self._read_once()
        self._live = Live(
            console=self._console,
            get_renderable=self._renderable,
            refresh_per_second=REFRESH_PER_SECOND,
            redirect_stdout=True,
            redirect_stderr=True,
        )
        streams = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
        self._live.start()
        self._route_logging(streams)
        if self._poll:
            self._thread = threading.Thread(target=self._loop, name="hpsearch-view", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._poll and exc_type is None:
            self._read_once()  # the final state stays on screen
        self._restore_logging()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _route_logging(self, terminal: tuple[Any, ...]) -> None:
        """Log records for the terminal go above the view too (a handler keeps the stream it
        was given: the root's, Ray's, ...; one writing to a file is left alone)."""
        loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for logger in loggers:
            for handler in getattr(logger, "handlers", ()):
                if type(handler) is logging.StreamHandler and handler.stream in terminal:
                    self._handlers.append((handler, handler.setStream(sys.stderr)))

    def _restore_logging(self) -> None:
        for handler, stream in self._handlers:
            handler.setStream(stream)
        self._handlers.clear()


def study_view(
    storage: BaseStorage, study_id: int, *, max_step: int | None, enabled: bool
) -> AbstractContextManager[Any]:
    """The live view of one study while the block runs (``hpsearch run``), or nothing."""
    if not enabled:
        return nullcontext()
    return TerminalView(lambda: [live_study(storage, study_id, max_step)])
