#!/usr/bin/env bash
# The issue-14 peer grid (ten development instances, 100 FBE), in phases so that the cheap
# methods' full 10 seeds come first and the slow GP methods (syne-tune defaults: the GP's
# hyperparameters are refitted at every suggestion) get as many seeds as the time allows:
#
#   1. random, st_asha, st_asha_promotion, st_hyperband, st_bohb, dehb, smac_hb,
#      smac_hb_pyrfr: seeds 0-9
#   2. st_mobster, st_hypertune: seed 0;  3. st_dyhpo: seed 0
#   4. st_mobster, st_hypertune, st_dyhpo: seeds 0-2
#
#   nohup nice -n 19 bash benchmarks/sample_efficiency_peers/run_grid.sh OUT.jsonl [SKIP.jsonl ...] &
#
# Rerunning the same command continues where it stopped (done runs are skipped, also those in
# the SKIP files, e.g. a cost measurement run beforehand).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(realpath -m "$1")"; shift  # absolute: the driver runs from the repository root
skip=(); for f in "$@"; do skip+=("$(realpath -m "$f")"); done
py="${PYTHON:-python3}"
drive() { (cd "$here/../.." && "$py" -m benchmarks.sample_efficiency_peers --out "$out" --budget-fbe 100 --skip-from "${skip[@]}" "$@"); }
echo "== phase 1 $(date -Is)"
drive --seeds 10 --methods random st_asha st_asha_promotion st_hyperband st_bohb dehb smac_hb smac_hb_pyrfr
echo "== phase 2 $(date -Is)"
drive --seeds 1 --methods st_mobster st_hypertune
echo "== phase 3 $(date -Is)"
drive --seeds 1 --methods st_dyhpo
echo "== phase 4 $(date -Is)"
drive --seeds 3 --methods st_mobster st_hypertune st_dyhpo
echo "== done $(date -Is)"
