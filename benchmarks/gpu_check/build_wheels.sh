#!/usr/bin/env bash
# Download the wheels the GPU image lacks (wheels.txt) for its Python and platform, build the
# hpsearch wheel, and check that they fit what the run tool carries (64 MiB with the tree).
#
#   bash benchmarks/gpu_check/build_wheels.sh [DIR]     (DIR: benchmarks/gpu_check/wheels)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dest="${1:-$here/wheels}"
python_version="${GPU_PYTHON_VERSION:-3.12}"
limit_mib=64
mkdir -p "$dest"
rm -f "$dest"/*.whl
platforms=()
for p in manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_24_x86_64 manylinux_2_27_x86_64 \
    manylinux_2_28_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64 manylinux_2_35_x86_64 \
    manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
grep -v -E '^\s*(#|$)' "$here/wheels.txt" | while read -r requirement; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" \
        --implementation cp "${platforms[@]}" -d "$dest" "$requirement"
done
# hpsearch itself, without dependencies (the image and the wheels above hold them)
python3 -m pip wheel -q --no-deps -w "$dest" "$root"
count=$(ls "$dest"/*.whl | wc -l)
expected=$(( $(grep -c -v -E '^\s*(#|$)' "$here/wheels.txt") + 1 ))
if [ "$count" -ne "$expected" ]; then
    echo "expected $expected wheels in $dest, found $count:" >&2
    ls "$dest" >&2
    exit 1
fi
wheels_bytes=$(cat "$dest"/*.whl | wc -c)
tree_bytes=$(cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 cat 2>/dev/null | wc -c)
total=$(( wheels_bytes + tree_bytes ))
printf 'wheels: %d files, %.1f MiB; working tree %.1f MiB; together %.1f MiB (limit %d MiB)\n' \
    "$count" "$(echo "$wheels_bytes/1048576" | bc -l)" "$(echo "$tree_bytes/1048576" | bc -l)" \
    "$(echo "$total/1048576" | bc -l)" "$limit_mib"
if [ "$total" -gt $(( limit_mib * 1048576 )) ]; then
    echo "too large for one run call: drop a wheel or shrink the tree" >&2
    exit 1
fi
