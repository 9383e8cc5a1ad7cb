"""Four trials at ``gpus_per_trial: 0.25`` on one GPU, one worker process each, and a sampler.

Each process (``python -m benchmarks.gpu_check.packed --spec FILE``) runs its own hpsearch
driver (``hpsearch.search.run`` with an in-process pool of one worker at ``gpus_per_trial``
0.25) on one shared SQLite study until the study has four finished trials: several drivers on
one study, each asking under the study lock. Each writes the trial its driver created, with
its train start (the trial's start plus its model load time) and end, read from the study.
The parent samples the GPU's busy percentage (NVML through ``pynvml``, else
``nvidia-smi``) and reports the mean over the span when all four trained together.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["GPU_FRACTION", "PACKED_TRIALS", "BusySampler", "main", "packed_specs", "run_packed"]

PACKED_TRIALS = 4
GPU_FRACTION = 1.0 / PACKED_TRIALS


class BusySampler:
    """Samples the GPU's utilisation (percent of time a kernel ran) every ``interval`` s."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self.source, self._read = self._reader()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _reader() -> tuple[str | None, Any]:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            return "nvml", lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:
            pass
        if shutil.which("nvidia-smi"):
            command = [
                "nvidia-smi",
                "--query-gpu=utilization.gpu",
                "--format=csv,noheader,nounits",
                "--id=0",
            ]

            def smi() -> float:
                return float(subprocess.run(command, capture_output=True, text=True).stdout)

            try:
                smi()
                return "nvidia-smi", smi
            except (OSError, ValueError):
                pass
        return None, None

    def start(self) -> None:
        if self._read is None:
            return
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):  # one failed read is one sample fewer
                self.samples.append((time.time(), self._read()))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def mean_between(self, start: float, end: float) -> tuple[float | None, int]:
        window = [u for t, u in self.samples if start <= t <= end]
        if not window:
            return None, 0
        return round(sum(window) / len(window) / 100.0, 3), len(window)


def run_packed(specs: list[dict[str, Any]], work: Path, timeout_s: float) -> dict[str, Any]:
    """Start one process per spec, sample the GPU while they run, and gather their results."""
    shutil.rmtree(work / "barrier", ignore_errors=True)  # a reused --work's ready marks
    (work / "barrier").mkdir(parents=True)
    sampler = BusySampler()
    sampler.start()
    procs = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    root = Path(__file__).resolve().parents[2]
    for index, spec in enumerate(specs):
        spec_path = work / f"spec-{index}.json"
        spec_path.write_text(json.dumps(spec))
        log = open(work / f"worker-{index}.log", "w")  # noqa: SIM115  (closed below)
        command = [sys.executable, "-m", "benchmarks.gpu_check.packed", "--spec", str(spec_path)]
        procs.append((subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=log), log))
    deadline = time.time() + timeout_s
    timed_out = False
    for proc, log in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            timed_out = True
        log.close()
    sampler.stop()
    results: list[dict[str, Any]] = []
    drivers: dict[str, int] = {}  # process -> trials its driver created
    for index, spec in enumerate(specs):
        path = Path(spec["result"])
        if path.is_file():
            written = json.loads(path.read_text())
            drivers[str(written["pid"])] = len(written["trials"])
            results.extend(written["trials"])
        else:
            tail = (work / f"worker-{index}.log").read_text(errors="replace")[-2000:]
            results.append({"state": "NO RESULT", "error": tail})
    out: dict[str, Any] = {
        "trials": results,
        "drivers": drivers,
        "timed_out": timed_out,
        "sampler": sampler.source,
    }
    starts = [r.get("train_started") for r in results]
    ends = [r.get("ended") for r in results]
    if all(isinstance(t, float) for t in starts + ends):
        window = (max(starts), min(ends))  # type: ignore[type-var]
        out["overlap_s"] = round(window[1] - window[0], 2)
        busy, count = sampler.mean_between(*window)
        out["busy_fraction"], out["busy_samples"] = busy, count
    return out


def _worker(spec_path: Path) -> None:
    """One packed trial: this process's own driver on the shared study, in-process pool."""
    from benchmarks.gpu_check.fixtures import Sizes
    from benchmarks.gpu_check.studies import StudySpec, run_study, trial_summary
    from hpsearch.search.engine import InProcessPool

    spec = json.loads(spec_path.read_text())
    study_spec = StudySpec(
        spec["study"],
        "lora",
        spec["precision"],
        gpus_per_trial=GPU_FRACTION if spec["cuda"] else 0.0,
        trials=spec["trials"],
        seeds=spec["trials"],
    )
    # pool="inprocess" gives each trial a whole GPU (gpus_per_trial 0 for its threads); the same
    # pool built with the fraction is what a quarter of a GPU gives a trial's memory limit
    pool = InProcessPool(1, gpus_per_trial=GPU_FRACTION)
    lines: list[str] = []
    import torch  # noqa: F401
    import transformers  # noqa: F401

    import hpsearch.search  # noqa: F401  (the imports before the barrier, not after)

    _barrier(Path(spec["work"]) / "barrier", spec["trials"])
    study = run_study(
        study_spec,
        Sizes(**spec["sizes"]),
        Path(spec["model_dir"]),
        Path(spec["data_dir"]),
        Path(spec["work"]),
        f"sqlite:///{spec['db']}",
        pool=pool,
        emit=lines.append,
    )
    mine = [t for t in study.get_trials(deepcopy=False) if _made_here(t.user_attrs)]
    written: list[dict[str, Any]] = []
    for trial in mine:
        summary = {**trial_summary(trial), "pid": os.getpid(), "gpu_fraction": pool.gpus_per_trial}
        if trial.datetime_start is not None and trial.datetime_complete is not None:
            load_s = float(trial.user_attrs.get("load_time_s", 0.0))
            summary["train_started"] = trial.datetime_start.timestamp() + load_s
            summary["ended"] = trial.datetime_complete.timestamp()
        written.append(summary)
    result = {"pid": os.getpid(), "trials": written, "driver_log": lines[-10:]}
    Path(spec["result"]).write_text(json.dumps(result, default=str))


def _barrier(folder: Path, count: int, timeout_s: float = 120.0) -> None:
    """Wait (after the imports) until all ``count`` processes are ready, so that their drivers
    ask the study together and each gets one of its trials."""
    (folder / f"ready-{os.getpid()}").touch()
    deadline = time.time() + timeout_s
    while len(list(folder.glob("ready-*"))) < count and time.time() < deadline:
        time.sleep(0.05)


def _made_here(attrs: dict[str, Any]) -> bool:
    """Was the trial created by this process's driver (``driver`` = host:pid:start)?"""
    parts = str(attrs.get("driver", "")).split(":")
    return len(parts) >= 2 and parts[1] == str(os.getpid())


def packed_specs(
    sizes: Any,
    model_dir: Path,
    data_dir: Path,
    work: Path,
    db: Path,
    precision: str,
    *,
    cuda: bool,
    count: int = PACKED_TRIALS,
) -> list[dict[str, Any]]:
    return [
        {
            "study": "packed",
            "trials": count,
            "cuda": cuda,
            "sizes": asdict(sizes),
            "model_dir": str(model_dir),
            "data_dir": str(data_dir),
            "work": str(work),
            "db": str(db),
            "precision": precision,
            "result": str(work / f"packed-{i}.json"),
        }
        for i in range(count)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one packed trial of the GPU check")
    parser.add_argument("--spec", type=Path, required=True)
    _worker(parser.parse_args(argv).spec)


if __name__ == "__main__":
    main()
