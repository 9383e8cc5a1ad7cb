"""One log file per trial, ``<checkpoint root>/<study>/trial-NNNNN/trial.log``.

The worker writes it while the trial runs: a header (study, trial, node, configuration), the
warnings logged meanwhile (hpsearch, transformers and every other library that logs through
the root logger), every full traceback, and the outcome. The trial's reasons stay one short
line (:mod:`._reasons`); its user attribute ``log_file`` points here for the rest. A log that
cannot be written (a full or read-only disk) never fails the trial.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from types import TracebackType

LOG_NAME = "trial.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CAPTURED = ("", "transformers")  # the root logger, and transformers' (it does not propagate)

_logger = logging.getLogger(__name__)
_trial_logger = logging.getLogger("hpsearch.trial")  # writes only to the open trial's file


def trial_log_path(checkpoints_dir: str | Path) -> Path:
    """The log file of the trial whose checkpoints live in ``checkpoints_dir``."""
    return Path(checkpoints_dir).parent / LOG_NAME


class TrialLog:
    """Context manager: the trial's log file, capturing warnings logged while it is open."""

    def __init__(self, path: Path) -> None:
        self.path: Path | None = path
        self._handler: logging.Handler | None = None
        self._log = _trial_logger

    def __enter__(self) -> TrialLog:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.path, encoding="utf-8")
        except OSError as exc:
            _logger.warning("cannot write the trial log %s: %s", self.path, exc)
            self.path = None
            return self
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.setLevel(logging.INFO)
        self._log.setLevel(logging.INFO)
        self._log.propagate = False  # the root logger has this handler too
        self._handler = handler
        self._log.addHandler(handler)
        for name in _CAPTURED:
            logging.getLogger(name).addHandler(handler)
        return self

    def write(self, text: str) -> None:
        if self._handler is not None:
            self._log.info(text)

    def exception(self, what: str, exc: BaseException) -> None:
        """``what`` happened, with ``exc``'s full traceback."""
        if self._handler is not None:
            detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self._log.error("%s\n%s", what, detail.rstrip())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handler is None:
            return
        if exc is not None:
            self.exception("the worker stopped on an error", exc)
        for name in _CAPTURED:
            logging.getLogger(name).removeHandler(self._handler)
        self._log.removeHandler(self._handler)
        self._handler.close()
        self._handler = None


def append_to_trial_log(path: Path, who: str, text: str) -> bool:
    """Append ``text`` (a full error message) from ``who``; False if it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"--- {who} ---\n{text.rstrip()}\n")
    except OSError as exc:
        _logger.warning("cannot write the trial log %s: %s", path, exc)
        return False
    return True
