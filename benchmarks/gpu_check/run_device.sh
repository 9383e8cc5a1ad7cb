#!/usr/bin/env bash
# On the GPU machine, from the repository root: install the carried wheels beside the image's
# packages, then run the check into $OUT (or the folder given), its log beside the record.
#
#   bash benchmarks/gpu_check/run_device.sh [OUT]
set -euo pipefail
out="${1:-${OUT:?set OUT or pass the output folder}}"
wheels="benchmarks/gpu_check/wheels"
ls "$wheels"/hpsearch-*.whl > /dev/null || {
    echo "no wheels in $wheels: run build_wheels.sh where PyPI is reachable, then carry it" >&2
    exit 2
}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$wheels"/*.whl
export PYTHONPATH=/tmp/site HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
nvidia-smi -L || true
python3 -m benchmarks.gpu_check --out "$out" --work /tmp/gpu-check 2>&1 | tee "$out/log.txt"
