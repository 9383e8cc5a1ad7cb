"""One DEHB run on the lcbench surrogate, through DEHB's ask/tell interface.

Runs in the ``dehb`` virtualenv (``setup_envs.sh``); the driver ``run_peers.py`` starts it.

Method ``dehb``: ``DEHB(cs, min_fidelity=1, max_fidelity=52, eta=3, n_workers=1, seed=seed)``
with DEHB's defaults otherwise (mutation 0.5, crossover 0.5, ``rand1_bin``). Its fidelities are
52 * 3^-k (1.93, 5.78, 17.3, 52): each is trained from scratch for the rounded number of epochs
(2, 6, 17, 52; ``common.fidelity_epochs``) and billed that many epochs, because DEHB keeps no
checkpoint: a configuration promoted to a higher fidelity is trained again from epoch 1 (as in
DEHB's own evaluation protocol). Fitness told to DEHB: 100 - val_accuracy (it minimises); cost:
the evaluation's simulated seconds. DEHB's log and state files go to a temporary folder.
"""

from __future__ import annotations

import tempfile
import warnings
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

METHODS = ("dehb",)


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


def run(ledger: Ledger, optimizer: Any) -> None:
    try:
        while not ledger.spent:
            with ledger.decision("ask"):
                job = optimizer.ask()
            config = normalize(dict(job["config"]), ledger.params)
            epochs = fidelity_epochs(float(job["fidelity"]), ledger.max_epoch)
            value, seconds = ledger.evaluate_from_scratch(config, epochs)
            with ledger.decision("tell"):
                optimizer.tell(job, {"fitness": 100.0 - value, "cost": seconds})
            ledger.n_reports += 1
    except BudgetSpent:
        pass  # the evaluation running now is abandoned, as in hpsearch's benchmark


def main(argv: list[str] | None = None) -> int:
    args = parse_runner_args(METHODS, argv)
    quiet_stdout()  # DEHB's loguru handler writes to sys.stdout
    warnings.filterwarnings("ignore")
    from dehb import DEHB

    ledger = Ledger(args.data_path, args.instance, args.budget_fbe)
    with tempfile.TemporaryDirectory(prefix="dehb-") as out:
        optimizer = DEHB(
            cs=configspace(ledger.params, args.seed),
            min_fidelity=1,
            max_fidelity=ledger.max_epoch,
            eta=3,
            n_workers=1,
            seed=args.seed,
            output_path=out,
            save_freq="end",  # no state file per incumbent change (run() is never called)
            log_level="ERROR",
        )
        ledger.settings = {
            "min_fidelity": 1,
            "max_fidelity": ledger.max_epoch,
            "eta": 3,
            "fidelities": [float(f) for f in optimizer.fidelities],
            "epochs_per_fidelity": [
                fidelity_epochs(float(f), ledger.max_epoch) for f in optimizer.fidelities
            ],
        }
        run(ledger, optimizer)
    write_result(args.result, ledger, args, library="dehb")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
