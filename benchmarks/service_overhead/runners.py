"""One system of the service-overhead benchmark, run in its own process.

    python -m benchmarks.service_overhead.runners hpsearch --storage URL --trials 20 --out r.json
    python -m benchmarks.service_overhead.runners optuna   --storage URL --trials 20 --out r.json
    python -m benchmarks.service_overhead.runners tune     --trials 20 --out r.json [--no-reuse]

Every system runs the same sleeping trial: ``steps`` steps of ``seconds`` each, a report (and,
where the system has one, a pruning check) after every step. Each trial records when its work
began and ended, and on which worker, from inside the worker; the result file holds those
records (and for hpsearch the driver profile of ``profile.py``). The parent script times the
whole process.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def _space_yaml(args: argparse.Namespace) -> dict[str, Any]:
    """lora_small as shipped (TPE, its parameters), with the simulated sleeping task."""
    import yaml

    from hpsearch.spaces import load_space

    shipped = load_space("lora_small").to_dict()
    space = {
        "name": "overhead",
        "objective": shipped["objective"],
        "trials": args.trials,
        "sampler": shipped["sampler"],
        "pruner": {"type": "none"},
        "early_stopping": {"patience": None},
        "resources": {"gpus_per_trial": 0, "cpus_per_trial": 1},
        "retries": {**shipped["retries"], "heartbeat_interval": args.heartbeat},
        "params": shipped["params"],
        "task": {
            "type": "simulated",
            "max_steps": args.steps,
            "eval_steps": 1,
            "simulated": {"seconds_per_step": args.seconds},
        },
    }
    return yaml.safe_load(yaml.safe_dump(space))


def run_hpsearch(args: argparse.Namespace) -> dict[str, Any]:
    # worker_profile imports Ray before hpsearch does; hpsearch's private Ray is
    # loopback-only, a switch Ray reads at import (search/_pool.py), so set it first.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import optuna
    import yaml

    from benchmarks.service_overhead import profile as so_profile
    from hpsearch.search.cli.main import main

    profile = so_profile.install()
    work = Path(tempfile.mkdtemp(prefix="hps-so-"))
    from benchmarks.service_overhead import worker_profile as so_worker_profile

    so_worker_profile.enable(work / "worker-profile")
    space = work / "overhead.yaml"
    space.write_text(yaml.safe_dump(_space_yaml(args)))
    name = "overhead-hpsearch"
    argv = ["run", "--space", str(space), "--study", name, "--storage", args.storage]
    argv += ["--workers", str(args.workers), "--checkpoint-dir", str(work / "ck")]
    started = time.time()
    code = main(argv)
    ended = time.time()
    if code != 0:
        raise SystemExit(f"hpsearch run exited {code}")
    study = optuna.load_study(study_name=name, storage=args.storage)
    db = [
        {
            "number": t.number,
            "worker": str(t.user_attrs.get("worker")),
            "start": t.datetime_start.timestamp() if t.datetime_start else None,
            "complete": t.datetime_complete.timestamp() if t.datetime_complete else None,
            "state": t.state.name,
        }
        for t in study.get_trials(deepcopy=False)
    ]
    trials = [
        {"worker": o["node"], "start": o["started"], "end": o["ended"], "number": o["number"]}
        for o in profile.outcomes
    ]
    return {
        "trials": trials,
        "db": db,
        "profile": profile.to_json(),
        "worker_profile": so_worker_profile.load(work / "worker-profile"),
        "in_process": [started, ended],
    }


def run_optuna(args: argparse.Namespace) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        start = time.time()
        lr = trial.suggest_float("learning_rate", 1e-5, 5e-4, log=True)
        value = 3.0
        for step in range(1, args.steps + 1):
            time.sleep(args.seconds)
            value = 0.5 + (3.0 - 0.5) * (1 - step / args.steps) + lr
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        with lock:
            records.append(
                {
                    "worker": threading.current_thread().name,
                    "start": start,
                    "end": time.time(),
                    "number": trial.number,
                }
            )
        return value

    storage = optuna.storages.RDBStorage(args.storage)
    study = optuna.create_study(
        study_name="overhead-optuna",
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=0, multivariate=True, constant_liar=True),
        pruner=optuna.pruners.NopPruner(),
    )
    started = time.time()
    study.optimize(objective, n_trials=args.trials, n_jobs=args.workers)
    return {"trials": records, "in_process": [started, time.time()]}


def run_tune(args: argparse.Namespace) -> dict[str, Any]:
    import ray
    from ray import tune

    out = Path(tempfile.mkdtemp(prefix="hps-tune-"))
    log = out / "trials.jsonl"

    def trainable(config: dict[str, Any]) -> None:
        start = time.time()
        value = 3.0
        for step in range(1, int(config["steps"]) + 1):
            time.sleep(float(config["seconds"]))
            value = 0.5 + (3.0 - 0.5) * (1 - step / int(config["steps"])) + config["lr"]
            tune.report({"loss": value, "step": step})
        record = {"worker": str(os.getpid()), "start": start, "end": time.time()}
        with open(config["log"], "a") as handle:
            handle.write(json.dumps(record) + "\n")

    ray.init(address="local", num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    started = time.time()
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space={
            "lr": tune.loguniform(1e-5, 5e-4),
            "steps": args.steps,
            "seconds": args.seconds,
            "log": str(log),
        },
        tune_config=tune.TuneConfig(
            num_samples=args.trials,
            max_concurrent_trials=args.workers,
            reuse_actors=not args.no_reuse,
            metric="loss",
            mode="min",
        ),
        run_config=tune.RunConfig(storage_path=str(out / "results"), name="overhead", verbose=0),
    )
    results = tuner.fit()
    ended = time.time()
    errors = sum(1 for r in results if r.error is not None)
    ray.shutdown()
    trials = [json.loads(line) for line in log.read_text().splitlines()]
    return {"trials": trials, "errors": errors, "in_process": [started, ended]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("system", choices=("hpsearch", "optuna", "tune"))
    parser.add_argument("--storage", default="")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    parser.add_argument("--no-reuse", action="store_true", help="tune: reuse_actors=False")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    runner = {"hpsearch": run_hpsearch, "optuna": run_optuna, "tune": run_tune}[args.system]
    result = runner(args)
    Path(args.out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
