# syntax=docker/dockerfile:1
# hpsearch with a CUDA build of PyTorch. One image for every part of a cluster: the Ray head,
# the GPU workers, the study driver and the dashboard (all Ray nodes and the driver must run the
# same Python, Ray and hpsearch versions).
#
#   docker build -t hpsearch:latest .
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 ...
#
# The base image brings the CUDA user-space libraries; the host needs only the NVIDIA driver and
# the NVIDIA Container Toolkit. Pick the CUDA index your driver supports (nvidia-smi shows the
# highest CUDA version it can run).
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
# Empty: the newest torch on that index; or e.g. --build-arg TORCH_VERSION=2.8.0
ARG TORCH_VERSION=

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    CUDA_DEVICE_ORDER=PCI_BUS_ID \
    RAY_USAGE_STATS_ENABLED=0 \
    HPSEARCH_HOME=/data/hpsearch \
    HF_HOME=/data/hf-cache

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv util-linux ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

# torch first, from the CUDA index: `pip install .` then keeps it (hpsearch only needs >=2.6).
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch${TORCH_VERSION:+==${TORCH_VERSION}}"

WORKDIR /opt/hpsearch
COPY pyproject.toml README.md LICENSE ./
COPY spaces spaces
COPY storage storage
COPY trainers trainers
COPY search search
# ray[default] adds the Ray dashboard and `ray status`/`ray health-check` extras to the nodes.
RUN pip install . "ray[default]" \
    && python -c "import torch, ray, hpsearch.search; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'ray', ray.__version__)"

COPY docker/ray-worker.sh /usr/local/bin/hpsearch-ray-worker
RUN chmod 0755 /usr/local/bin/hpsearch-ray-worker && mkdir -p /data

CMD ["hpsearch", "--help"]
