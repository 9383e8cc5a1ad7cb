"""One trial as N data-parallel processes on one node, launched with torchrun's machinery.

A trial with ``processes > 1`` (``resources.gpus_per_trial: N``) is launched by the process that
was given the trial (a Ray worker holding the N GPUs) through
``torch.distributed.launcher.elastic_launch``: torchrun's own agent, in-process, with
``max_restarts=0`` (the search, not torchrun, retries trials). Each rank runs the ordinary Hugging
Face runner; ``TrainingArguments`` then sets up DDP or FSDP over NCCL (GPUs) or gloo (CPUs). The
trial still behaves as one trial:

* Every rank talks to the launcher over a local authenticated socket. Only rank 0 reports and
  records; rank 0 asks the launcher's reporter whether to prune (and whether that is a pause)
  and broadcasts the answer, so every rank stops at the same evaluation, and on a pause every
  rank writes its part of the pause checkpoint.
* Checkpoints are committed once: every rank writes its part, then a barrier, then rank 0
  commits (:mod:`hpsearch.trainers._checkpoints`). A retry resumes every rank from it.
* A rank that raises reports its error and exits; a rank that dies (a kill, a segfault) says
  nothing. Either way torchrun's agent stops the other ranks within seconds; the launcher then
  raises the rank's own error (OOM, non-finite loss, ...) or :class:`RankFailedError`, which the
  search retries from the last committed checkpoint. Ranks also die with their launcher
  (``PR_SET_PDEATHSIG``), so a killed worker leaves no rank behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from hpsearch.trainers import _checkpoints
from hpsearch.trainers._base import Reporter, TrialConfig, TrialError, TrialResult

RANK_ENV = "HPSEARCH_TRIAL_RANK"  # set in a rank: it trains instead of launching again
DISTRIBUTED = ("ddp", "fsdp")
_PR_SET_PDEATHSIG = 1
_AGENT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


class RankFailedError(TrialError):
    """A rank of a multi-process trial died; the search retries it from its checkpoint."""

    kind = "rank_failed"
    retryable = True


def in_rank() -> bool:
    """True inside a rank of a multi-process trial."""
    return os.environ.get(RANK_ENV) is not None


def rank() -> int:
    """This process's rank in its trial (0 outside a multi-process trial)."""
    return int(os.environ.get("RANK", "0")) if in_rank() else 0


def is_main() -> bool:
    """True where a trial's single writes happen: rank 0, or a single-process trial."""
    return rank() == 0


def _world() -> bool:
    if not in_rank():
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every rank (nothing outside a multi-process trial)."""
    if _world():
        import torch.distributed as dist

        dist.barrier()


def broadcast_flag(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank."""
    return broadcast_flags(flag)[0]


def broadcast_flags(*flags: bool) -> tuple[bool, ...]:
    """Rank 0's ``flags`` on every rank (one collective for all of them)."""
    if not _world():
        return tuple(bool(f) for f in flags)
    import torch.distributed as dist

    box = [bool(f) for f in flags]
    dist.broadcast_object_list(box, src=0)
    return tuple(bool(f) for f in box)


def write_dir_once(target: Path, write: Callable[[Path], None]) -> None:
    """:func:`_checkpoints.write_dir_atomically` across ranks: all write, rank 0 commits."""
    if not _world():
        _checkpoints.write_dir_atomically(target, write)
        return
    tmp = _checkpoints.begin_dir(target) if is_main() else _checkpoints.tmp_dir(target)
    barrier()
    write(tmp)
    barrier()
    if is_main():
        _checkpoints.end_dir(target, tmp)
    barrier()


def needs_launch(config: TrialConfig) -> bool:
    return config.processes > 1 and not in_rank()


def failpoint_context() -> dict[str, Any]:
    """The rank, for failpoint rules such as ``train.step=kill@step=6,rank=1``."""
    return {"rank": rank()} if in_rank() else {}


def rank_training_args(config: TrialConfig, cuda: bool) -> dict[str, Any]:
    """TrainingArguments a rank adds: the backend, and FSDP's sharding when asked for."""
    args: dict[str, Any] = {"ddp_backend": "nccl" if cuda else "gloo"}
    if config.distributed == "fsdp":
        args["fsdp"] = "full_shard auto_wrap"
        args["fsdp_config"] = {"use_orig_params": True}
    elif config.distributed != "ddp":
        raise TrialError(
            f"distributed {config.distributed!r} is not one of {', '.join(DISTRIBUTED)}"
        )
    return args


class _RankReporter:
    """The reporter a rank sees: rank 0 forwards to the launcher; prune decisions are shared.

    A prune decision travels with whether it is a pause (one answer from the launcher, one
    broadcast), so every rank saves the pause checkpoint: each writes its part of it.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.main = is_main()
        self._pausing = False

    def report(self, step: int, value: float) -> None:
        if self.main:
            self.conn.send(("report", step, value))

    def record(self, attrs: Mapping[str, Any]) -> None:
        if self.main:
            self.conn.send(("record", dict(attrs)))

    def should_prune(self) -> bool:
        decision, pausing = False, False
        if self.main:
            self.conn.send(("prune",))
            decision, pausing = self.conn.recv()
        decision, self._pausing = broadcast_flags(decision, pausing)
        return decision

    def pausing(self) -> bool:
        """Whether the last stop ``should_prune`` said (on every rank alike) is a pause."""
        return self._pausing


def _die_with_parent() -> None:
    """SIGKILL this rank when its launcher dies (Linux), so no rank outlives a killed worker."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _rank_main(address: tuple[str, int], authkey: bytes, config: TrialConfig) -> None:
    """The entry point of every rank (module level: torchrun pickles it into each process)."""
    _die_with_parent()
    os.environ[RANK_ENV] = os.environ.get("RANK", "0")
    conn = Client(address, authkey=authkey)
    conn.send(("hello", rank()))
    try:
        import torch

        from hpsearch.trainers._runners import runner_for

        extra = rank_training_args(config, torch.cuda.is_available())
        hparams = replace(
            config.hparams, training_args={**dict(config.hparams.training_args), **extra}
        )
        result = runner_for(config.model.task_type).run(
            replace(config, hparams=hparams), _RankReporter(conn)
        )
    except BaseException as exc:  # tell the launcher why, then leave: torchrun stops the rest
        try:
            conn.send(("error", rank(), exc))
        except Exception:  # an error that does not pickle
            conn.send(("error", rank(), RuntimeError(f"{type(exc).__name__}: {exc}")))
        conn.close()
        os._exit(1)
    if is_main():
        conn.send(("result", result))
    conn.close()


class _Server:
    """The launcher's end of the ranks' sockets: serves rank 0's reporter calls, keeps errors."""

    def __init__(self, reporter: Reporter, ranks: int) -> None:
        self.reporter = reporter
        self.authkey = secrets.token_bytes(32)
        self.listener = Listener(("127.0.0.1", 0), authkey=self.authkey)
        self.errors: list[tuple[int, BaseException]] = []
        self.error_times: list[float] = []
        self.gone: list[tuple[float, int]] = []  # ranks whose socket closed without an error
        self.reporter_error: BaseException | None = None
        self.result: TrialResult | None = None
        self._lock = threading.Lock()
        self._conns: list[Connection] = []
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, args=(ranks,), daemon=True).start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.listener.address
        return str(host), int(port)

    def _accept(self, ranks: int) -> None:
        for _ in range(ranks):
            try:
                conn = self.listener.accept()
            except (OSError, EOFError):  # closed, or a peer that failed the handshake
                return
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: Connection) -> None:
        peer: int | None = None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the rank exited, or died
                with self._lock:
                    if peer is not None and peer not in {r for r, _ in self.errors}:
                        self.gone.append((time.monotonic(), peer))
                return
            if message[0] == "hello":
                peer = int(message[1])
                continue
            with self._lock:
                self._handle(conn, message)

    def _handle(self, conn: Connection, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "error":
            self.errors.append((int(message[1]), message[2]))
            self.error_times.append(time.monotonic())
        elif kind == "result":
            self.result = message[1]
        elif self.reporter_error is not None:  # the trial is over for the search: stop ranks
            if kind == "prune":
                conn.send((True, False))
        else:
            try:
                if kind == "report":
                    self.reporter.report(int(message[1]), float(message[2]))
                elif kind == "record":
                    self.reporter.record(message[1])
                elif kind == "prune":
                    prune = bool(self.reporter.should_prune())
                    pause = prune and bool(getattr(self.reporter, "pausing", lambda: False)())
                    conn.send((prune, pause))
            except Exception as exc:  # e.g. the trial was reaped and retried meanwhile
                self.reporter_error = exc
                if kind == "prune":
                    conn.send((True, False))

    def close(self) -> None:
        self.listener.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()

    def failure(self, failures: Mapping[int, Any]) -> BaseException:
        """The error the trial failed with, given torchrun's failed ranks.

        A rank's own trial error wins (out of memory, a non-finite loss). Otherwise a rank that
        died without a word before any other rank raised is the cause: the others' errors
        ("connection closed by peer") are its consequences, whichever torchrun noticed first.
        Ranks that torchrun stopped after a failure close their sockets later, and are not.
        """
        for thread in list(self._threads):  # every rank is gone: its last words are in
            thread.join(timeout=1.0)
        with self._lock:
            errors, gone = list(self.errors), list(self.gone)
            first_error = min(self.error_times, default=float("inf"))
        trial_errors = [e for _, e in errors if isinstance(e, TrialError)]
        if trial_errors:
            return trial_errors[0]
        reported = {r for r, _ in errors}
        dead = [r for t, r in sorted(gone) if t <= first_error]
        # torchrun saw these fail on their own (ranks it stopped are not among its failures)
        dead += sorted(r for r in failures if r not in reported and r not in dead)
        if dead:
            code = int(getattr(failures.get(dead[0]), "exitcode", 0) or 0)
            if code < 0:
                how = f"was killed by {signal.Signals(-code).name}"
            elif code > 0:
                how = f"exited with status {code}"
            else:
                how = "died without reporting an error"
            return RankFailedError(
                f"rank {dead[0]} of the trial {how}; the other ranks were stopped"
            )
        if errors:
            return errors[0][1]
        return RankFailedError("the trial's ranks failed without saying why")


def launch(config: TrialConfig, reporter: Reporter) -> TrialResult:
    """Run ``config`` as ``config.processes`` ranks on this node and return rank 0's result."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logs = Path(config.paths.checkpoints_dir) / "ranks"
    logs.mkdir(parents=True, exist_ok=True)
    launch_config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=config.processes,
        run_id=f"{config.run_name}-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",  # torchrun --standalone: a free local port
        max_restarts=0,  # the search retries a trial, from its checkpoint
        monitor_interval=0.2,
        start_method="spawn",
        logs_specs=DefaultLogsSpecs(log_dir=str(logs), redirects=Std.ALL),
        local_addr="127.0.0.1",
    )
    server = _Server(reporter, config.processes)
    started = time.perf_counter()
    # torchrun's agent installs its own SIGTERM/SIGINT handlers in the main thread: give the
    # caller (a driver running trials in-process) its own back afterwards
    main = threading.current_thread() is threading.main_thread()
    handlers = {s: signal.getsignal(s) for s in _AGENT_SIGNALS} if main else {}
    try:
        elastic_launch(launch_config, _rank_main)(server.address, server.authkey, config)
    except ChildFailedError as exc:
        error = server.failure(exc.failures)
        if isinstance(error, RankFailedError):
            error = RankFailedError(f"{error} (each rank's output: {logs})")
        raise error from None
    finally:
        server.close()
        for sig, handler in handlers.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)
    if server.reporter_error is not None:
        raise server.reporter_error
    if server.result is None:
        raise RankFailedError("rank 0 finished without a result")
    server.result.stats = {
        **server.result.stats,
        "processes": config.processes,
        "distributed": config.distributed,
        "launch_time_s": round(time.perf_counter() - started, 3),
    }
    return server.result


__all__ = [
    "DISTRIBUTED",
    "RANK_ENV",
    "RankFailedError",
    "barrier",
    "broadcast_flag",
    "broadcast_flags",
    "failpoint_context",
    "in_rank",
    "is_main",
    "launch",
    "needs_launch",
    "rank",
    "rank_training_args",
    "write_dir_once",
]
