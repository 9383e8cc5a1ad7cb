#!/usr/bin/env bash
# Create one virtualenv per peer library for benchmarks/sample_efficiency_peers/.
#
#   bash benchmarks/sample_efficiency_peers/setup_envs.sh [--unpinned] [ENV ...]
#
# ENV: syne_tune, dehb, smac (default: all three). The envs go to
# benchmarks/sample_efficiency_peers/.envs/ENV (git-ignored), or $HPSEARCH_PEER_ENVS/ENV.
# By default each installs the exact versions of requirements/ENV.txt; --unpinned installs the
# top-level specs below instead and rewrites requirements/ENV.txt from pip freeze.
# Python: $PYTHON, else python3.11. The smac env builds pyrfr from source: it needs swig and
# a C++ compiler (Debian: apt-get install -y swig g++).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
envs="${HPSEARCH_PEER_ENVS:-$here/.envs}"
python="${PYTHON:-python3.11}"
unpinned=0
if [[ "${1:-}" == "--unpinned" ]]; then unpinned=1; shift; fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(syne_tune dehb smac)

spec() {  # the top-level requirements of an env (what --unpinned installs)
  case "$1" in
    # 0.13.0: the last release with promotion-type Hyperband, MOBSTER, Hyper-Tune and DyHPO.
    # gpsearchers (scipy, autograd): MOBSTER, Hyper-Tune, DyHPO; kde (statsmodels): BOHB.
    syne_tune) echo "syne-tune[gpsearchers,kde]==0.13.0 onnxruntime" ;;
    dehb) echo "dehb onnxruntime" ;;
    smac) echo "smac[pyrfr]>=2,<3 onnxruntime" ;;
    *) echo "unknown env '$1' (expected syne_tune, dehb or smac)" >&2; return 2 ;;
  esac
}

for name in "${targets[@]}"; do
  spec "$name" > /dev/null
  if [[ "$name" == smac ]] && ! command -v swig > /dev/null; then
    echo "smac: pyrfr needs swig to build: apt-get install -y swig (then rerun)" >&2
    exit 2
  fi
  dir="$envs/$name"
  echo "== $name -> $dir"
  rm -rf "$dir"
  "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --upgrade pip
  if [[ $unpinned -eq 1 ]]; then
    # shellcheck disable=SC2046
    "$dir/bin/python" -m pip install --quiet $(spec "$name")
    {
      echo "# Exact versions of the $name virtualenv (pip freeze of a working install, Python $("$dir/bin/python" -c 'import sys; print(".".join(map(str, sys.version_info[:2])))'))."
      echo "# setup_envs.sh installs this file; regenerate it with setup_envs.sh --unpinned $name."
      "$dir/bin/python" -m pip freeze
    } > "$here/requirements/$name.txt"
  else
    "$dir/bin/python" -m pip install --quiet -r "$here/requirements/$name.txt"
  fi
  "$dir/bin/python" -m pip freeze > "$dir/freeze.txt"
  echo "$name: $(grep -iE '^(syne.tune|dehb|smac|pyrfr|configspace|numpy|onnxruntime)==' "$dir/freeze.txt" | tr '\n' ' ')"
done
