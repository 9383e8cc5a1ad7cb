#!/usr/bin/env bash
# A Ray worker node for docker compose: claim GPUs of this host, then join the Ray head.
#
# Docker gives every replica of a service the same GPUs (a device reservation with `count: N`
# always means GPUs 0..N-1), so `docker compose up --scale ray-worker=4` on a 4-GPU host would
# put four Ray nodes on GPU 0. Instead each replica sees all GPUs (`count: all`) and claims
# GPUS_PER_WORKER of them with an flock on a lock file per GPU in a volume the replicas share;
# the kernel releases the lock when the replica stops, however it stops. The replica then
# advertises only its claimed GPUs to Ray (CUDA_VISIBLE_DEVICES + --num-gpus).
#
# Environment:
#   RAY_HEAD_ADDRESS  head's GCS address (default ray-head:6379, inside the compose network)
#   GPUS_PER_WORKER   GPUs per replica, or "all" for one replica with every GPU (default 1)
#   GPU_LOCK_DIR      lock folder shared by the replicas on this host (default /gpu-locks)
# Extra arguments are passed to `ray start`.
set -euo pipefail

head="${RAY_HEAD_ADDRESS:-ray-head:6379}"
per_worker="${GPUS_PER_WORKER:-1}"
lock_dir="${GPU_LOCK_DIR:-/gpu-locks}"

join() {  # join() NUM_GPUS [ray start args...]
  local gpus="$1"
  shift
  echo "ray-worker: joining ${head} with ${gpus} GPU(s) (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-none})"
  exec ray start --address="${head}" --num-gpus="${gpus}" --disable-usage-stats --block "$@"
}

mapfile -t gpus < <(
  nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | tr -d ' ' | grep -E '^[0-9]+$' || true
)
if [ "${#gpus[@]}" -eq 0 ]; then
  echo "ray-worker: no GPU visible (is the NVIDIA container toolkit installed?); joining as a CPU-only node" >&2
  export CUDA_VISIBLE_DEVICES=""
  join 0 "$@"
fi
if [ "${per_worker}" = "all" ]; then
  per_worker="${#gpus[@]}"
fi
if ! [[ "${per_worker}" =~ ^[1-9][0-9]*$ ]]; then
  echo "ray-worker: GPUS_PER_WORKER must be a positive integer or 'all', not '${per_worker}'" >&2
  exit 2
fi

mkdir -p "${lock_dir}"
claimed=()
for index in "${gpus[@]}"; do
  [ "${#claimed[@]}" -ge "${per_worker}" ] && break
  exec {fd}>"${lock_dir}/gpu-${index}.lock"
  if flock --nonblock "${fd}"; then
    claimed+=("${index}")  # the descriptor stays open (and locked) in `ray start --block`
  else
    exec {fd}>&-
  fi
done
if [ "${#claimed[@]}" -lt "${per_worker}" ]; then
  echo "ray-worker: only ${#claimed[@]} of the ${per_worker} GPU(s) this replica needs are free on this host (${#gpus[@]} in all); scale ray-worker down or lower GPUS_PER_WORKER" >&2
  exit 1
fi
export CUDA_DEVICE_ORDER=PCI_BUS_ID  # CUDA numbers GPUs as nvidia-smi does
CUDA_VISIBLE_DEVICES="$(IFS=,; echo "${claimed[*]}")"
export CUDA_VISIBLE_DEVICES
join "${#claimed[@]}" "$@"
