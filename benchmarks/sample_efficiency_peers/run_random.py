"""One random-search run on the lcbench surrogate (no library; numpy + onnxruntime only).

Method ``random``: configurations from ``lcbench.random_configs(seed=seed)`` (uniform, or
log-uniform where the space says so), each trained to the last epoch. It gives a standalone
report a quality target (random search's median best at the budget) when hpsearch's own
target is not at hand; runs in any environment with numpy and onnxruntime (the driver uses
its own interpreter).
"""

from __future__ import annotations

import math

from benchmarks.sample_efficiency_peers.common import (
    BudgetSpent,
    Ledger,
    load_lcbench,
    parse_runner_args,
    write_result,
)

METHODS = ("random",)


def main(argv: list[str] | None = None) -> int:
    args = parse_runner_args(METHODS, argv)
    ledger = Ledger(args.data_path, args.instance, args.budget_fbe)
    n = math.ceil(args.budget_fbe) + 1
    configs = load_lcbench().random_configs(args.data_path, n, seed=args.seed)
    try:
        for config in configs:
            ledger.evaluate_from_scratch(config, ledger.max_epoch)
    except BudgetSpent:
        pass
    ledger.settings = {"sampler": "lcbench.random_configs"}
    write_result(args.result, ledger, args, library="numpy")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
