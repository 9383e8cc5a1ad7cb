"""Probes of a large study for the storage-scale benchmark: ``hpsearch status`` time, the
dashboard API's first load, and the memory of a real ``hpsearch run`` driver."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from hpsearch.storage import trial_id_of

HPSEARCH = [sys.executable, "-m", "hpsearch.search.cli.main"]


def status_seconds(url: str, study: str) -> tuple[float, float]:
    """(``hpsearch status STUDY`` as a command, the overview inside it) in seconds."""
    from hpsearch.search.records import overview
    from hpsearch.storage import open_storage, parse_storage_url

    started = time.perf_counter()
    proc = subprocess.run(
        [*HPSEARCH, "status", study, "--storage", url], capture_output=True, text=True
    )
    command = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"hpsearch status failed: {proc.stderr.strip()}")
    storage = open_storage(parse_storage_url(url), check=False, create_schema=False)
    study_id = storage.get_study_id_from_name(study)
    started = time.perf_counter()
    overview(storage, study_id)
    inner = time.perf_counter() - started
    storage.engine.dispose()
    return command, inner


def dashboard_seconds(url: str, study: str) -> dict[str, float]:
    """Start ``hpsearch dashboard`` and time its study API (the JSON the study page loads)."""
    from hpsearch.storage import open_storage, parse_storage_url

    storage = open_storage(parse_storage_url(url), check=False, create_schema=False)
    study_id = storage.get_study_id_from_name(study)
    storage.engine.dispose()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*HPSEARCH, "dashboard", "--storage", url, "--port", "0", "--study", study],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = None
        for line in proc.stdout:
            if "http://" in line:
                base = line.strip().split("/dashboard")[0]
                break
        if base is None:
            raise RuntimeError("hpsearch dashboard printed no URL")
        out = {"start_s": time.perf_counter() - started}
        for label, path in (
            ("study_first_s", f"/api/studies/{study_id}"),
            ("study_second_s", f"/api/studies/{study_id}"),
            ("studies_s", "/api/studies"),
        ):
            t0 = time.perf_counter()
            with urllib.request.urlopen(base + path, timeout=600) as response:
                body = response.read()
            out[label] = time.perf_counter() - t0
            out[label.replace("_s", "_mb")] = len(body) / 2**20
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


SIM_SPACE = """
name: driver-rss
objective: {{metric: eval_loss, direction: minimize}}
trials: {trials}
sampler: {{type: tpe, seed: 0, n_startup_trials: 10}}
pruner: {{type: successive_halving, min_evaluations: 1, reduction_factor: 3}}
early_stopping: {{patience: null}}
resources: {{gpus_per_trial: 0, cpus_per_trial: 1}}
params:
  learning_rate: {{type: float, low: 1.0e-5, high: 5.0e-4, log: true}}
  per_device_train_batch_size: {{type: categorical, choices: [4, 8, 16]}}
  effective_batch_size: 16
  lora_r: {{type: categorical, choices: [4, 8, 16, 32]}}
task:
  type: simulated
  max_steps: 3
  eval_steps: 1
  checkpoint_every: 3
"""


def _prefill(url: str, study_name: str, space_file: Path, count: int) -> None:
    """Add ``count`` finished trials as the space's own would look: 50 sampled and told for
    real, the rest copies of their parameters (``add_trials``, far faster than running them)."""
    import optuna

    from hpsearch.search.policy import sample_params
    from hpsearch.spaces import load_space
    from hpsearch.storage import open_storage, parse_storage_url

    space = load_space(str(space_file))
    storage = open_storage(parse_storage_url(url), check=False, create_schema=False)
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=1)
    )
    shapes = []
    for _ in range(min(50, count)):
        trial = study.ask()
        sample_params(trial, space)
        frozen = storage.get_trial(trial_id_of(trial))
        shapes.append((frozen.params, frozen.distributions))
        for step in (1, 2, 3):
            trial.report(2.5 + 1.0 / step, step)
        study.tell(trial, 2.5)
    batch = []
    for i in range(count - len(shapes)):
        params, distributions = shapes[i % len(shapes)]
        value = 1.5 + (i % 97) / 97
        batch.append(
            optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                value=value,
                intermediate_values={step: value + 1.0 / step for step in (1, 2, 3)},
            )
        )
        if len(batch) == 500:
            study.add_trials(batch)
            batch = []
    study.add_trials(batch)
    storage.engine.dispose()


def _peak_rss(cmd: list[str], log_path: Path) -> tuple[float, float]:
    """(peak RSS in MB of the command's own process, seconds it ran)."""
    import psutil

    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        peak = 0
        handle = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak = max(peak, handle.memory_info().rss)
            except psutil.Error:
                break
            time.sleep(0.25)
    if proc.returncode != 0:
        raise RuntimeError(f"hpsearch run failed; see {log_path}")
    return peak / 2**20, time.perf_counter() - started


def driver_rss(url: str, trials: int, workers: int, prefill: int = 0) -> dict[str, Any]:
    """Peak RSS of a real ``hpsearch run`` driver process (not its Ray workers) running
    ``trials`` trials on a study that already holds ``prefill`` finished ones."""
    work = Path(tempfile.mkdtemp(prefix="hps-ss-rss-"))
    space = work / "space.yaml"
    space.write_text(SIM_SPACE.format(trials=trials))
    cmd = [*HPSEARCH, "run", "--space", str(space), "--study", "driver-rss", "--storage", url]
    cmd += ["--workers", str(workers), "--checkpoint-dir", str(work / "ck")]
    if prefill:  # the study and its settings first, then the finished trials
        _peak_rss([*cmd, "--trials", "1"], work / "create.log")
        _prefill(url, "driver-rss", space, prefill)
        cmd += ["--trials", str(1 + prefill + trials)]
    peak, seconds = _peak_rss(cmd, work / "run.log")
    return {"peak_rss_mb": peak, "seconds": seconds, "prefill": prefill, "trials": trials}
