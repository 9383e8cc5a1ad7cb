"""One real study shared by the dashboard tests: ``hpsearch run`` on PostgreSQL, then
``hpsearch dashboard`` beside it.

The study runs in a background ``hpsearch run`` (tiny Qwen3, LoRA, median pruning, two Ray
workers) for about a minute; the live tests watch it while it runs, the output tests (status,
best/export, report) use it once it has finished. The storage URL carries a dummy password
(PostgreSQL here trusts local connections, so any password works) that must appear in no
command line and no log.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.conftest import PG_HOST, PG_PORT, PG_USER, create_database, drop_database
from tests.helpers import hpsearch_argv

SECRET = "dummy-secret"
STUDY = "live"
BUDGET = 10
MAX_STEPS = 30
EVAL_STEPS = 3

SPACE_YAML = """\
name: dashboard_live
description: LoRA on a tiny Qwen3 with median pruning (dashboard tests).
method: lora
objective: {metric: eval_loss, direction: minimize}
trials: 10
sampler: {type: random, seed: 3}
pruner: {type: median, n_startup_trials: 2, n_warmup_steps: 0}
early_stopping: {patience: null}
resources: {gpus_per_trial: 1, cpus_per_trial: 1}
params:
  learning_rate: {type: float, low: 1.0e-5, high: 3.0e-1, log: true}
  effective_batch_size: {type: fixed, value: 8}
  per_device_train_batch_size: {type: categorical, choices: [4, 8]}
  lora_r: {type: categorical, choices: [4, 8]}
  lora_alpha: 16
  lora_dropout: 0.0
  lora_target_modules: all-linear
"""


@dataclass
class LiveStudy:
    secret_url: str  # postgresql://postgres:dummy-secret@.../db
    optuna_url: str  # the same database for plain optuna, without the password
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    workdir: Path
    run_log: Path
    model: str
    dataset: str
    _storage: Any = None

    def study_exists(self) -> bool:
        """Asked with plain SQL: opening an Optuna storage could race the run's schema setup."""
        import psycopg2

        conn = psycopg2.connect(self.optuna_url.replace("+psycopg2", ""))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM studies WHERE study_name = %s", (STUDY,))
                row = cur.fetchone()
                return bool(row and row[0])
        except psycopg2.errors.UndefinedTable:
            return False
        finally:
            conn.close()

    def study(self) -> optuna.Study:
        if self._storage is None:  # hpsearch's storage: it rides out a database restart
            from hpsearch.storage import open_storage, parse_storage_url

            location = parse_storage_url(self.optuna_url)
            self._storage = open_storage(location, check=False, create_schema=False)
        return optuna.load_study(study_name=STUDY, storage=self._storage)

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study().get_trials(deepcopy=False)

    def wait_for(self, what: str, predicate: Any, timeout: float = 150) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            if self.process.poll() is not None and not predicate():
                pytest.fail(f"the study ended before {what}:\n{self.log_tail()}")
            time.sleep(0.5)
        pytest.fail(f"timed out waiting for {what}:\n{self.log_tail()}")

    def wait_finished(self, timeout: float = 240) -> optuna.Study:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the study did not finish in {timeout:g}s:\n{self.log_tail()}")
        assert code == 0, self.log_tail()
        return self.study()

    def log_tail(self) -> str:
        return self.run_log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="package")
def live_study(
    tiny_qwen3: str, text_jsonl: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStudy]:
    database = create_database("hpsearch_dash")
    workdir = tmp_path_factory.mktemp("live-study")
    space = workdir / "space.yaml"
    space.write_text(SPACE_YAML)
    secret_url = f"postgresql://{PG_USER}:{SECRET}@{PG_HOST}:{PG_PORT}/{database}"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HPSEARCH_FAILPOINTS")}
    env.update(HPSEARCH_STORAGE=secret_url, HPSEARCH_HOME=str(workdir / "home"))
    run_log = workdir / "run.log"
    with open(run_log, "wb") as log:
        process = subprocess.Popen(
            hpsearch_argv(
                "run",
                "--space",
                str(space),
                "--study",
                STUDY,
                "--model",
                tiny_qwen3,
                "--dataset",
                text_jsonl,
                "--max-steps",
                str(MAX_STEPS),
                "--eval-steps",
                str(EVAL_STEPS),
                "--max-seq-length",
                "32",
                "--trials",
                str(BUDGET),
                "--workers",
                "2",
                "--checkpoint-dir",
                str(workdir / "ckpt"),
            ),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    live = LiveStudy(
        secret_url=secret_url,
        optuna_url=f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
        env=env,
        process=process,
        workdir=workdir,
        run_log=run_log,
        model=tiny_qwen3,
        dataset=text_jsonl,
    )
    try:
        yield live
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        drop_database(database)


@dataclass
class Dashboard:
    process: subprocess.Popen[bytes]
    url: str  # the study page printed by hpsearch dashboard
    base: str  # http://127.0.0.1:PORT
    port: int
    log: Path
    study_id: int

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.base}{path}", timeout=30) as response:
            return json.loads(response.read())

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"{self.base}{path}", timeout=30) as response:
            return bytes(response.read())

    def trials(self) -> list[dict[str, Any]]:
        return list(self.api(f"/api/studies/{self.study_id}?after=0")["trials"])


@pytest.fixture(scope="package")
def dashboard(live_study: LiveStudy) -> Iterator[Dashboard]:
    """``hpsearch dashboard --study live --port 0``, the storage URL in its environment."""
    live_study.wait_for("the study to be created", live_study.study_exists, timeout=120)
    log = live_study.workdir / "dashboard.log"
    handle = open(log, "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(
        hpsearch_argv("dashboard", "--study", STUDY, "--port", "0"),
        env=live_study.env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    match = None
    while match is None and time.monotonic() < deadline:
        match = re.search(rb"http://127\.0\.0\.1:(\d+)/dashboard/studies/(\d+)", log.read_bytes())
        if process.poll() is not None:
            break
        time.sleep(0.2)
    if match is None:
        process.kill()
        pytest.fail(f"hpsearch dashboard did not print its URL:\n{log.read_text()}")
    port = int(match.group(1))
    board = Dashboard(
        process=process,
        url=match.group(0).decode(),
        base=f"http://127.0.0.1:{port}",
        port=port,
        log=log,
        study_id=int(match.group(2)),
    )
    try:
        yield board
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        handle.close()


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def chromium_args() -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]


CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian's chromium is not installed: apt-get install -y chromium chromium-driver "
            "(never playwright install)"
        )
