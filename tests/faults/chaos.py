"""The chaos soak's engine: drivers on one study, faults at random times, figures.

Each *round* is a fresh study with a fixed budget run by two ``hpsearch`` drivers, each with
its own private Ray and two trial workers. While the soak's time lasts, faults follow one
another at random intervals, in random order, one at a time: SIGKILL of a trial's Ray worker
process, SIGKILL of a whole driver tree (a new driver continues with ``hpsearch resume``), a
restart of the private PostgreSQL cluster (``fast`` or ``immediate``, i.e. a crash) and a full
checkpoint disk for a few seconds. Every round ends with the study invariants
(:mod:`tests.faults.soak_checks`); the figures of all rounds are returned.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from hpsearch.trainers import is_complete
from tests.faults.harness import descendants, kill_tree, start_cli
from tests.faults.pgcluster import PrivatePostgres
from tests.faults.soak_checks import NO_REPEAT, RoundResult, check_round
from tests.faults.soak_setup import SPACE, SoakConfig, SoakReport, exit_cause
from tests.helpers import sa_url

FAULTS = ("worker", "driver", "postgres", "disk")


def _is_trial_worker(pid: int) -> bool:
    """Whether ``pid`` is a Ray trial-worker process. Pids wrap around (at 32768 here) within
    a soak: the pid a trial recorded for its worker, once that worker is gone, may by now be
    any other process, even another driver's GCS server."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::TrialWorker")
    except OSError:
        return False


@dataclass
class _Driver:
    proc: subprocess.Popen[str]
    ray_tmp: str
    log: Path
    killed: bool = False


def _in_ray_of(pid: int, driver: _Driver) -> bool:
    """Whether process ``pid`` belongs to ``driver``'s private Ray (it inherited its
    ``RAY_TMPDIR``): never kill a process of anyone else on this shared machine."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"RAY_TMPDIR={driver.ray_tmp}".encode() in environ


class Soak:
    def __init__(
        self,
        cfg: SoakConfig,
        pg: PrivatePostgres,
        database: str,
        workdir: Path,
        disk: Path,
        keep: Path,
    ) -> None:
        """``keep``: where the drivers' logs and, for a round that breaks an invariant, its
        trials and checkpoint folders are kept (outside the test's temporary folder)."""
        self.cfg, self.pg, self.disk, self.workdir, self.keep = cfg, pg, disk, workdir, keep
        self.url = pg.url(database)
        self.rng = random.Random(cfg.seed)
        self.space = workdir / "soak.yaml"
        self.space.write_text(
            SPACE.format(
                budget=cfg.budget,
                max_retries=cfg.max_retries,
                max_steps=cfg.max_steps,
                seconds_per_step=cfg.seconds_per_step,
            )
        )
        (keep / "logs").mkdir(parents=True, exist_ok=True)
        self._storage: optuna.storages.RDBStorage | None = None
        self._cycle: list[str] = []
        self._disk_full_until: float | None = None
        self._filler = disk / ".soak-filler"
        self._ray_tmps: list[str] = []
        self._failpoints = ""
        self._all: list[_Driver] = []  # every driver started, to stop them whatever happens

    # -- drivers ------------------------------------------------------------------------
    def _start_driver(self, study: str, command: str) -> _Driver:
        ray_tmp = tempfile.mkdtemp(prefix="hs", dir="/tmp")  # short: socket paths < 107 chars
        self._ray_tmps.append(ray_tmp)
        log = self.keep / "logs" / f"{study}-{len(self._ray_tmps):03d}-{command}.log"
        args = ["resume", study]
        if command == "run":
            args = ["run", "--space", str(self.space), "--study", study]
        env = {"RAY_TMPDIR": ray_tmp}
        if self._failpoints:
            env["HPSEARCH_FAILPOINTS"] = self._failpoints
        proc = start_cli(
            [
                *args,
                "--storage",
                self.url,
                "--workers",
                str(self.cfg.workers_per_driver),
                "--checkpoint-dir",
                str(self.disk),
            ],
            env=env,
            log=log,
        )
        self._all.append(_Driver(proc, ray_tmp, log))
        return self._all[-1]

    def _replacement(self, study: str) -> _Driver:
        """A new driver for a study: ``resume`` once the study exists, else ``run``."""
        try:
            self._study(study)
            command = "resume"
        except Exception:  # not created yet (its creator was killed first), or no database
            command = "run"
        return self._start_driver(study, command)

    def _study(self, name: str) -> optuna.Study:
        if self._storage is None:
            self._storage = optuna.storages.RDBStorage(
                sa_url(self.url), engine_kwargs={"pool_pre_ping": True}
            )
        return optuna.load_study(study_name=name, storage=self._storage)

    # -- faults -------------------------------------------------------------------------
    def _next_fault(self) -> str:
        if not self._cycle:  # every kind once per cycle, in random order
            kinds = FAULTS if self.disk_mounted else tuple(k for k in FAULTS if k != "disk")
            self._cycle = self.rng.sample(kinds, len(kinds))
        return self._cycle.pop()

    def _kill_worker(self, study: str, drivers: list[_Driver]) -> str | None:
        """SIGKILL the Ray worker process of a running trial (one of this soak's drivers')."""
        live = [d for d in drivers if d.proc.poll() is None]
        ours: set[int] = set()
        for driver in live:
            ours |= descendants(driver.proc.pid)
        try:
            running = self._study(study).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        except Exception:  # the study may not exist yet, or the database restarts
            return None
        targets = [
            (t.number, int(str(t.user_attrs["node"]).rsplit(":", 1)[1]))
            for t in running
            if "node" in t.user_attrs
        ]
        targets = [
            (number, pid)
            for number, pid in targets
            if _is_trial_worker(pid) and (pid in ours or any(_in_ray_of(pid, d) for d in live))
        ]
        if not targets:
            return None
        number, pid = self.rng.choice(targets)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return f"trial {number}, pid {pid}"

    def _kill_driver(self, drivers: list[_Driver]) -> _Driver | None:
        live = [d for d in drivers if d.proc.poll() is None]
        if not live:
            return None
        victim = self.rng.choice(live)
        victim.killed = True
        kill_tree(victim.proc, also_matching=victim.ray_tmp)
        return victim

    def _fill_disk(self) -> None:
        """Fill the checkpoint filesystem to the last byte; released after a few seconds."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for chunk in (1 << 20, 1 << 12, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)
        self._disk_full_until = time.monotonic() + self.rng.uniform(*self.cfg.disk_full_s)

    def _release_disk(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._filler.unlink()
        self._disk_full_until = None

    def _inject(self, kind: str, study: str, drivers: list[_Driver], report: SoakReport) -> bool:
        detail: str | None
        if kind == "worker":
            detail = self._kill_worker(study, drivers)
        elif kind == "driver":
            victim = self._kill_driver(drivers)
            detail = None
            if victim is not None:
                drivers.append(self._replacement(study))
                detail = f"pid {victim.proc.pid}; replaced by pid {drivers[-1].proc.pid}"
        elif kind == "postgres":
            mode = self.rng.choice(("fast", "immediate"))
            began = time.monotonic()
            self.pg.restart(mode)
            kind, detail = f"postgres_{mode}", f"down {time.monotonic() - began:.1f}s"
        else:  # only with a small filesystem; else failpoints set at the round's start
            self._fill_disk()
            assert self._disk_full_until is not None
            detail = f"full for {self._disk_full_until - time.monotonic():.1f}s"
        if detail is None:
            return False
        report.faults[kind] += 1
        report.events.append(
            {
                "t": round(time.time() - report.started, 1),
                "study": study,
                "fault": kind,
                "detail": detail,
            }
        )
        return True

    def _disk_failpoints(self) -> str:
        """Without a small filesystem: ENOSPC at a checkpoint of a few random trials."""
        if self.disk_mounted:
            return ""
        picks = self.rng.sample(range(self.cfg.budget), k=max(1, self.cfg.budget // 10))
        return ";".join(f"checkpoint.write=enospc@step=20,trial={n}" for n in picks)

    # -- rounds -------------------------------------------------------------------------
    def _round(self, index: int, deadline: float, report: SoakReport) -> RoundResult:
        study = f"soak-{index:03d}"
        self._failpoints = self._disk_failpoints()
        if self._failpoints:
            report.faults["disk_failpoint"] += self._failpoints.count(";") + 1
        drivers = [self._start_driver(study, "run") for _ in range(self.cfg.drivers)]
        started = time.monotonic()
        next_fault = started + self.rng.uniform(*self.cfg.gap_s)
        while True:
            now = time.monotonic()
            if self._disk_full_until is not None and now >= self._disk_full_until:
                self._release_disk()
            for driver in drivers:
                rc = driver.proc.poll()
                if rc not in (None, 0) and not driver.killed:
                    driver.killed = True  # handled: counted once, then replaced
                    tail = driver.log.read_text()[-1500:]
                    report.driver_exits.append(
                        {"round": index, "rc": rc, "cause": exit_cause(tail), "log": tail}
                    )
                    drivers.append(self._replacement(study))
            if all(d.proc.poll() is not None for d in drivers):
                break
            if now > deadline + self.cfg.finish_s:  # a hang is a finding, not a stuck soak
                report.hangs.append({"round": index, "after_chaos_s": self.cfg.finish_s})
                break
            chaos = now < deadline and self._disk_full_until is None
            if chaos and now >= next_fault:
                kind = self._next_fault()
                if not self._inject(kind, study, drivers, report):
                    self._cycle.append(kind)  # nothing to hit yet: try it again soon
                    next_fault = now + 1.0
                else:
                    next_fault = now + self.rng.uniform(*self.cfg.gap_s)
            time.sleep(0.25)
        self._release_disk()
        for driver in drivers:
            if driver.proc.poll() is None:
                kill_tree(driver.proc, also_matching=driver.ray_tmp)
        elapsed = time.monotonic() - started
        result = check_round(
            self._study(study), self.cfg.budget, self.cfg.max_retries, self.disk, elapsed
        )
        if any(invariant != NO_REPEAT for invariant, _ in result.problems):
            self._keep_round(study)
        return result

    def _keep_round(self, study: str) -> None:
        """The trials and checkpoint folders of a round that broke an invariant, for a look."""
        trials = [
            {
                "number": t.number,
                "state": t.state.name,
                "params": t.params,
                "user_attrs": t.user_attrs,
                "steps": sorted(t.intermediate_values),
                "start": str(t.datetime_start),
                "end": str(t.datetime_complete),
            }
            for t in self._study(study).get_trials(deepcopy=False)
        ]
        folders = {
            str(p.relative_to(self.disk)): is_complete(p)
            for p in sorted((self.disk / study).glob("trial-*/checkpoints/checkpoint-*"))
        }
        dump = {"trials": trials, "checkpoints": folders}
        (self.keep / f"{study}.json").write_text(json.dumps(dump, indent=1, default=str))

    def run(self) -> SoakReport:
        report = SoakReport(self.cfg, self.disk_mounted)
        start = time.monotonic()
        deadline = start + self.cfg.duration_s
        index, last = 0, 0.0
        try:
            # Another round only if at least half a round's worth of chaos time is left.
            while index == 0 or deadline - time.monotonic() >= last / 2:
                result = self._round(index, deadline, report)
                report.rounds.append(result)
                last, index = result.elapsed_s, index + 1
        finally:
            self._release_disk()
            for driver in self._all:
                if driver.proc.poll() is None:
                    kill_tree(driver.proc, also_matching=driver.ray_tmp)
            for ray_tmp in self._ray_tmps:
                shutil.rmtree(ray_tmp, ignore_errors=True)
            if self._storage is not None:
                self._storage.engine.dispose()
            report.ended = time.time()
        return report

    @property
    def disk_mounted(self) -> bool:
        return os.path.ismount(self.disk)
