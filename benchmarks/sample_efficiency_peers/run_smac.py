"""One SMAC (2.x) run on the lcbench surrogate: its multi-fidelity (Hyperband) facade, ask/tell.

Runs in the ``smac`` virtualenv (``setup_envs.sh``); the driver ``run_peers.py`` starts it.

Methods:

- ``smac_hb``: ``MultiFidelityFacade`` (random forest from scikit-learn: SMAC >= 2.4's default);
- ``smac_hb_pyrfr``: ``smac.facade.old.MultiFidelityRFRFacade`` (the same facade with the pyrfr
  random forest, which SMAC 2.0-2.3 used).

Both with SMAC's defaults otherwise: ``Scenario(min_budget=1, max_budget=52, deterministic=True,
seed=seed, n_trials=N)``, Hyperband with eta 3, a random initial design of
``min(10 * 7 parameters, N / 4)`` configurations. ``N`` is what SMAC's own helper
``get_n_trials_for_hyperband_multifidelity`` gives for the epoch budget (468 for 100 FBE); the
run stops on the epoch budget, whichever comes first. Budgets 52 * 3^-k (1.93, 5.78, 17.3, 52)
are trained from scratch for the rounded number of epochs (2, 6, 17, 52;
``common.fidelity_epochs``) and billed that many: SMAC keeps no checkpoint, a configuration
intensified at a higher budget trains again from epoch 1. Cost told to SMAC:
100 - val_accuracy; ``tell(..., save=False)`` (no run-history file written per trial: decision
time then measures SMAC's computation, not this machine's disk).
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from benchmarks.sample_efficiency_peers.common import (
    BudgetSpent,
    Ledger,
    fidelity_epochs,
    normalize,
    parse_runner_args,
    quiet_stdout,
    write_result,
)

METHODS = ("smac_hb", "smac_hb_pyrfr")
ETA = 3


def configspace(params: dict[str, dict[str, Any]], seed: int) -> Any:
    """``lcbench.space_params`` as a ConfigSpace (same bounds, log scales, integer types)."""
    from ConfigSpace import (
        ConfigurationSpace,
        UniformFloatHyperparameter,
        UniformIntegerHyperparameter,
    )

    cs = ConfigurationSpace(seed=seed)
    for name, p in params.items():
        cls = UniformIntegerHyperparameter if p["type"] == "int" else UniformFloatHyperparameter
        cs.add(cls(name, lower=p["low"], upper=p["high"], log=p["log"]))
    return cs


def _never_called(config: Any, seed: int = 0, budget: float = 1.0) -> float:
    raise RuntimeError("the ask/tell loop evaluates trials itself")


def make_facade(method: str, ledger: Ledger, seed: int, out: str) -> tuple[Any, dict[str, Any]]:
    from smac import MultiFidelityFacade, Scenario
    from smac.intensifier.hyperband_utils import get_n_trials_for_hyperband_multifidelity

    n_trials = get_n_trials_for_hyperband_multifidelity(
        total_budget=ledger.budget_epochs, min_budget=1, max_budget=ledger.max_epoch, eta=ETA
    )
    scenario = Scenario(
        configspace(ledger.params, seed),
        deterministic=True,
        n_trials=n_trials,
        min_budget=1,
        max_budget=ledger.max_epoch,
        seed=seed,
        output_directory=Path(out) / "smac3_output",
    )
    if method == "smac_hb_pyrfr":
        from smac.facade.old import MultiFidelityRFRFacade as facade_cls
    else:
        facade_cls = MultiFidelityFacade
    facade = facade_cls(
        scenario,
        _never_called,
        intensifier=facade_cls.get_intensifier(scenario, eta=ETA),
        overwrite=True,
        logging_level=40,
    )
    settings = {
        "facade": facade_cls.__name__,
        "n_trials": n_trials,
        "eta": ETA,
        "min_budget": 1,
        "max_budget": ledger.max_epoch,
        "deterministic": True,
    }
    return facade, settings


def run(ledger: Ledger, facade: Any) -> None:
    from smac.runhistory.dataclasses import TrialValue

    try:
        while not ledger.spent:
            with ledger.decision("ask"):
                info = facade.ask()
            config = normalize(dict(info.config), ledger.params)
            budget = float(info.budget) if info.budget is not None else float(ledger.max_epoch)
            epochs = fidelity_epochs(budget, ledger.max_epoch)
            value, seconds = ledger.evaluate_from_scratch(config, epochs)
            with ledger.decision("tell"):
                facade.tell(info, TrialValue(cost=100.0 - value, time=seconds), save=False)
            ledger.n_reports += 1
    except BudgetSpent:
        pass  # the evaluation running now is abandoned, as in hpsearch's benchmark


def main(argv: list[str] | None = None) -> int:
    args = parse_runner_args(METHODS, argv)
    quiet_stdout()  # SMAC's helpers print their Hyperband plan
    warnings.filterwarnings("ignore")
    ledger = Ledger(args.data_path, args.instance, args.budget_fbe)
    with tempfile.TemporaryDirectory(prefix="smac-") as out:
        facade, ledger.settings = make_facade(args.method, ledger, args.seed, out)
        run(ledger, facade)
    extra = {}
    if args.method == "smac_hb_pyrfr":
        import importlib.metadata

        extra["pyrfr_version"] = importlib.metadata.version("pyrfr")
    write_result(args.result, ledger, args, library="smac", **extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
