"""One syne-tune (0.13.0) run on the lcbench surrogate, its schedulers driven directly.

Runs in the ``syne_tune`` virtualenv (``setup_envs.sh``); the driver ``run_peers.py`` starts it.

Why not syne-tune's simulator backend: it needs the blackbox-repository extra (numpy<1.24,
xgboost, h5py, ...) and a blackbox wrapped around the surrogate, and its billing of resumed
trials depends on how the blackbox replays epochs. Driving the scheduler directly makes the
billing explicit: this file is the loop syne-tune's ``Tuner`` runs with one worker, written for
a trainer that reports every epoch and stops exactly when told:

    suggestion = scheduler.suggest(trial_id)      # a new trial, or a paused one to resume
    (new: scheduler.on_trial_add(trial))
    for each further epoch (a resumed trial continues after the epoch it paused at):
        decision = scheduler.on_trial_result(trial, {"val_accuracy": v, "epoch": e})
        STOP or PAUSE: scheduler.on_trial_remove(trial), next suggestion
        last epoch (and not stopped): scheduler.on_trial_complete(trial, result)

as in ``syne_tune.tuner.Tuner._update_running_trials``. Each epoch is billed once: a resumed
trial pays only for the epochs after its checkpoint. The schedulers get ``max_t=52`` rather
than ``max_resource_attr``: the latter only tells a trainer where to stop, which this loop
already knows (it stops on PAUSE at the rung, exactly, with no overshoot).

Methods (syne-tune's defaults unless listed; rung levels 1, 3, 9, 27 with grace_period 1 and
reduction_factor 3; ``random_seed`` = the seed):

- ``st_asha``: ASHA, ``type="stopping"`` (never resumes);
- ``st_asha_promotion``: ASHA, ``type="promotion"`` (one bracket, pause and resume);
- ``st_hyperband``: ``HyperbandScheduler`` with random search, ``type="promotion"``, all
  brackets (5);
- ``st_mobster``: MOBSTER, ``type="promotion"``, GP model ``gp_multitask`` (default);
- ``st_bohb``: asynchronous BOHB (KDE searcher), ``type="promotion"``;
- ``st_hypertune``: Hyper-Tune, ``type="promotion"``, ``gp_independent`` (default), all
  brackets (its model-based bracket distribution needs more than one);
- ``st_dyhpo``: DyHPO (``type="dyhpo"``: rung increment 2, SH probability and
  ``opt_skip_period=3`` by default).

As in syne-tune's defaults, the model-based searchers start with the midpoint of the space.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from typing import Any

from benchmarks.sample_efficiency_peers.common import (
    METRIC,
    BudgetSpent,
    Ledger,
    normalize,
    parse_runner_args,
    quiet_stdout,
    write_result,
)

RESOURCE = "epoch"
ALL_BRACKETS = 100  # syne-tune clips it to len(rung_levels) + 1

METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "st_asha": ("ASHA", {"type": "stopping"}),
    "st_asha_promotion": ("ASHA", {"type": "promotion"}),
    "st_hyperband": (
        "HyperbandScheduler",
        {"searcher": "random", "type": "promotion", "brackets": ALL_BRACKETS},
    ),
    "st_mobster": ("MOBSTER", {"type": "promotion"}),
    "st_bohb": ("BOHB", {"type": "promotion"}),  # see clip_to_box
    "st_hypertune": ("HyperTune", {"type": "promotion", "brackets": ALL_BRACKETS}),
    "st_dyhpo": ("DyHPO", {}),
}


def config_space(params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``lcbench.space_params`` as a syne-tune config space (same bounds, logs, ints)."""
    from syne_tune.config_space import lograndint, loguniform, randint, uniform

    domains: dict[str, Any] = {}
    for name, p in params.items():
        if p["type"] == "int":
            domains[name] = (lograndint if p["log"] else randint)(p["low"], p["high"])
        else:
            domains[name] = (loguniform if p["log"] else uniform)(p["low"], p["high"])
    return domains


def clip_to_box(config: dict[str, Any], params: dict[str, dict[str, Any]]) -> tuple[dict, int]:
    """``config`` with each integer parameter clipped into its bounds; and how many were out.

    Only for ``st_bohb``: syne-tune 0.13's KDE searcher encodes an integer domain as
    ``(v - a) / (upper - a)`` with ``a = 1 / (2 (upper - lower + 1))``, ignoring the lower bound
    and the log scale, and decodes with ``ceil``, so it proposes e.g. ``batch_size=8`` for a
    domain 16..512. The clipped value is what is trained and what the scheduler is told (the
    trial's config), so the searcher learns from what ran. Floats are always in bounds.
    """
    out, n = dict(config), 0
    for name, p in params.items():
        if p["type"] == "int" and not p["low"] <= out[name] <= p["high"]:
            out[name] = min(max(int(out[name]), p["low"]), p["high"])
            n += 1
    return out, n


def make_scheduler(method: str, params: dict[str, dict[str, Any]], seed: int, max_epoch: int):
    from syne_tune.optimizer import baselines
    from syne_tune.optimizer.schedulers import HyperbandScheduler

    cls_name, kwargs = METHODS[method]
    cls = HyperbandScheduler if cls_name == "HyperbandScheduler" else getattr(baselines, cls_name)
    return cls(
        config_space(params),
        metric=METRIC,
        mode="max",
        resource_attr=RESOURCE,
        max_t=max_epoch,
        random_seed=seed,
        **kwargs,
    )


def run(ledger: Ledger, scheduler: Any, clip: bool = False) -> None:
    from syne_tune.backend.trial_status import Trial
    from syne_tune.optimizer.scheduler import SchedulerDecision

    trials: dict[int, Trial] = {}
    configs: dict[int, dict[str, Any]] = {}
    last_epoch: dict[int, int] = {}
    next_id = 0
    try:
        while not ledger.spent:
            with ledger.decision("suggest"):
                suggestion = scheduler.suggest(trial_id=next_id)
            if suggestion is None:
                break  # the searcher ran out of configurations
            if suggestion.spawn_new_trial_id:
                if suggestion.checkpoint_trial_id is not None:
                    raise RuntimeError(
                        "warm-starting from another trial's checkpoint is not "
                        "modelled by this runner"
                    )
                trial_id, next_id = next_id, next_id + 1
                config = dict(suggestion.config)
                if clip:
                    config, n_out = clip_to_box(config, ledger.params)
                    ledger.settings["n_clipped"] += n_out
                trial = Trial(trial_id=trial_id, config=config, creation_time=datetime.now())
                trials[trial_id], last_epoch[trial_id] = trial, 0
                configs[trial_id] = normalize(trial.config, ledger.params)
                with ledger.decision("add"):
                    scheduler.on_trial_add(trial=trial)
                ledger.start(configs[trial_id])
            else:
                trial_id = suggestion.checkpoint_trial_id
                trial = trials[trial_id]
                if suggestion.config is not None:
                    trial.config = dict(suggestion.config)
                    if normalize(trial.config, ledger.params) != configs[trial_id]:
                        raise RuntimeError(f"trial {trial_id} resumed with other parameters")
                ledger.start(configs[trial_id], resumed=True)
            epoch = last_epoch[trial_id]
            while True:
                epoch += 1  # continue after the last epoch trained (the checkpoint)
                value = ledger.train_epoch(configs[trial_id], epoch)
                last_epoch[trial_id] = epoch
                result = {METRIC: value, RESOURCE: epoch}
                with ledger.decision("report"):
                    decision = scheduler.on_trial_result(trial=trial, result=result)
                ledger.n_reports += 1
                if decision in (SchedulerDecision.STOP, SchedulerDecision.PAUSE):
                    with ledger.decision("remove"):
                        scheduler.on_trial_remove(trial=trial)
                    break
                if epoch == ledger.max_epoch:
                    with ledger.decision("complete"):
                        scheduler.on_trial_complete(trial=trial, result=result)
                    break
    except BudgetSpent:
        pass  # the trial running now is abandoned, as in hpsearch's benchmark


def main(argv: list[str] | None = None) -> int:
    args = parse_runner_args(tuple(METHODS), argv)
    quiet_stdout()
    logging.basicConfig(level=logging.ERROR)  # syne-tune logs every decision at INFO
    warnings.filterwarnings("ignore")
    ledger = Ledger(args.data_path, args.instance, args.budget_fbe)
    scheduler = make_scheduler(args.method, ledger.params, args.seed, ledger.max_epoch)
    cls_name, kwargs = METHODS[args.method]
    ledger.settings = {
        "class": cls_name,
        **kwargs,
        "max_t": ledger.max_epoch,
        "rung_levels": list(getattr(scheduler, "rung_levels", [])),
        "num_brackets": getattr(scheduler, "num_brackets", None),
    }
    clip = args.method == "st_bohb"
    if clip:
        ledger.settings["n_clipped"] = 0  # integer values clipped into the box (clip_to_box)
    run(ledger, scheduler, clip=clip)
    write_result(args.result, ledger, args, library="syne-tune")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
