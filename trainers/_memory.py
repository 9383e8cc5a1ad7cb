"""Estimate a trial's accelerator memory before any weights are loaded.

The model is built on PyTorch's ``meta`` device from its config, so parameter counts and the
LoRA-adapted layers are exact and nothing is allocated. The estimate adds up, in bytes:

* weights: every parameter in its load dtype (4-bit NF4 for QLoRA's linear layers, with the
  double-quantisation constants);
* gradients and optimizer states for the trainable parameters (AdamW: two states; 8-bit
  optimizers: one byte each; SGD without momentum: none);
* activations kept for backward, per token and layer (inputs of every projection, attention
  output, the MLP's gate/up/activation), all layers without gradient checkpointing or only the
  layer inputs plus the recomputed layer with it, and the activation gradients of one layer
  at the peak of backward; attention scores where they are materialised (the eager kernel,
  and SDPA's math path on a CPU);
* logits and their gradient in fp32 for the loss (large for 150k-token vocabularies);
* a fixed CUDA context and allocator slack.

A configuration whose estimate exceeds the worker's memory is rejected before it starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from hpsearch.trainers._base import TrialConfig, TrialError
from hpsearch.trainers._methods import method_for

GB = 1024**3
CUDA_CONTEXT_GB = 0.5
ALLOCATOR_SLACK = 1.10


class MemoryEstimateError(TrialError):
    """The estimated memory of a configuration exceeds what the worker has (not retried)."""

    kind = "memory_estimate"


@dataclass(frozen=True)
class MemoryEstimate:
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    logits_gb: float
    overhead_gb: float
    trainable_params: int
    total_params: int

    @property
    def total_gb(self) -> float:
        return (
            self.weights_gb
            + self.gradients_gb
            + self.optimizer_gb
            + self.activations_gb
            + self.logits_gb
            + self.overhead_gb
        )

    def describe(self) -> str:
        return (
            f"{self.total_gb:.2f} GB (weights {self.weights_gb:.2f}, gradients "
            f"{self.gradients_gb:.2f}, optimizer {self.optimizer_gb:.2f}, activations "
            f"{self.activations_gb:.2f}, logits {self.logits_gb:.2f}, overhead "
            f"{self.overhead_gb:.2f})"
        )


def _bytes(dtype_name: str) -> int:
    return {"fp32": 4, "bf16": 2, "fp16": 2}[dtype_name]


@dataclass(frozen=True)
class _Shape:
    total_params: int
    linear: tuple[tuple[str, int, int], ...]  # (qualified name, in, out) of nn.Linear layers
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_dim: int
    q_dim: int
    vocab: int
    head_names: tuple[str, ...]


@lru_cache(maxsize=8)
def _shape(path: str, task_type: str, num_labels: int | None) -> _Shape:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(path)
    if num_labels:
        config.num_labels = num_labels
    factory = (
        AutoModelForSequenceClassification
        if task_type == "classification"
        else AutoModelForCausalLM
    )
    import torch  # here, not at import: the driver imports this package without needing torch

    with torch.device("meta"):
        model = factory.from_config(config)
    linear = tuple(
        (n, m.in_features, m.out_features)
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear)
    )
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
    heads = int(getattr(config, "num_attention_heads", 1))
    head_dim = int(getattr(config, "head_dim", 0) or hidden // max(heads, 1))
    kv_heads = int(getattr(config, "num_key_value_heads", heads) or heads)
    return _Shape(
        total_params=sum(p.numel() for p in model.parameters()),
        linear=linear,
        hidden=hidden,
        intermediate=int(getattr(config, "intermediate_size", 4 * hidden)),
        layers=int(getattr(config, "num_hidden_layers", 1)),
        heads=heads,
        kv_dim=kv_heads * head_dim,
        q_dim=heads * head_dim,
        vocab=int(getattr(config, "vocab_size", 0)),
        head_names=("lm_head", "score", "classifier"),
    )


def _targeted(shape: _Shape, target_modules: Any) -> list[tuple[str, int, int]]:
    """The linear layers LoRA adapts (PEFT's rule: all-linear skips the output head)."""
    body = [
        (n, i, o)
        for n, i, o in shape.linear
        if n.rsplit(".", 1)[-1] not in shape.head_names and "pooler" not in n
    ]
    if target_modules == "all-linear":
        return body
    names = [target_modules] if isinstance(target_modules, str) else list(target_modules)
    return [(n, i, o) for n, i, o in body if any(n == t or n.endswith("." + t) for t in names)]


def estimate_memory(
    config: TrialConfig, path: str, *, num_labels: int | None, compute_dtype: str
) -> MemoryEstimate:
    """Peak training memory of ``config`` on one device, without allocating anything.

    For a trial of N ranks it is the memory of one rank's device: DDP adds its gradient
    buckets; FSDP divides weights, gradients and optimizer states by N.
    """
    shape = _shape(path, config.model.task_type, num_labels)
    hp, method = config.hparams, config.model.method
    act_bytes = _bytes(compute_dtype)
    optim = str(hp.training_args.get("optim", "adamw_torch"))
    lora = dict(config.model.lora or {})
    linear_params = sum(i * o for _, i, o in shape.linear)
    strategy = method_for(method)
    adapter_params = 0
    if strategy.entry.adapter:
        targeted = _targeted(shape, lora.get("target_modules", "all-linear"))
        rank = int(lora.get("r", 8))
        adapter_params = sum(rank * (i + o) for _, i, o in targeted)
        adapter_params += sum(
            i * o for n, i, o in shape.linear if n.rsplit(".", 1)[-1] in ("score", "classifier")
        )
    weights, trainable = strategy.weight_terms(
        total_params=shape.total_params,
        linear_params=linear_params,
        adapter_params=adapter_params,
        act_bytes=act_bytes,
    )
    grad_bytes = 4.0
    if "8bit" in optim:
        state_bytes = 2.0
    elif optim.startswith("sgd") or optim == "adafactor":
        state_bytes = 0.0 if optim.startswith("sgd") else 0.5
    else:
        state_bytes = 8.0
    tokens = hp.per_device_train_batch_size * config.data.max_seq_length
    per_layer_token = 5 * shape.hidden + 2 * shape.q_dim + 2 * shape.kv_dim + 4 * shape.intermediate
    if strategy.entry.adapter and float(lora.get("lora_dropout", 0.0)) > 0:
        per_layer_token += shape.hidden * 4  # dropout keeps a copy of each adapted input
    import torch

    cuda = torch.cuda.is_available()
    if config.model.attn_implementation == "eager" or not cuda:
        # scores, softmax and dropout mask are materialised (on a CPU, SDPA runs its math path)
        per_layer_token += 3 * shape.heads * config.data.max_seq_length
    # Backward also holds, at its peak, the gradients of one layer's activations; with gradient
    # checkpointing the layer being recomputed holds its activations too.
    if hp.training_args.get("gradient_checkpointing"):
        act_elems = tokens * (shape.layers * shape.hidden + 3 * per_layer_token)
    else:
        act_elems = tokens * (shape.layers + 1) * per_layer_token
    logits = (
        tokens * shape.vocab * (act_bytes + 8) if config.model.task_type != "classification" else 0
    )
    gradients = trainable * grad_bytes
    optimizer = trainable * state_bytes
    ranks = max(1, config.processes)
    if ranks > 1 and config.distributed == "fsdp":
        # FULL_SHARD: each rank keeps 1/N of weights, gradients and optimizer states, plus the
        # unsharded weights of the layers being gathered (this one and the prefetched next)
        weights = min(weights, weights / ranks + 2 * weights / max(1, shape.layers))
        gradients, optimizer = gradients / ranks, optimizer / ranks
    elif ranks > 1:
        gradients *= 2  # DDP's all-reduce buckets hold a second copy of the gradients
    return MemoryEstimate(
        weights_gb=weights / GB,
        gradients_gb=gradients / GB,
        optimizer_gb=optimizer / GB,
        activations_gb=act_elems * act_bytes * ALLOCATOR_SLACK / GB,
        logits_gb=logits / GB,
        overhead_gb=CUDA_CONTEXT_GB if cuda else 0.0,
        trainable_params=int(trainable),
        total_params=int(shape.total_params),
    )


def available_gb(config: TrialConfig) -> float | None:
    """The memory this trial may use: the stated limit, else its share of the GPU."""
    if config.memory_limit_gb is not None:
        return float(config.memory_limit_gb)
    import torch

    if torch.cuda.is_available():
        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
        return total / GB * max(min(config.gpu_fraction, 1.0), 1e-6)
    return None  # CPU without a stated limit: nothing to check


def check_fits(estimate: MemoryEstimate, config: TrialConfig) -> None:
    limit = available_gb(config)
    if limit is not None and estimate.total_gb > limit:
        raise MemoryEstimateError(
            f"infeasible: estimated peak memory {estimate.describe()} exceeds the "
            f"{limit:.2f} GB this trial may use (per-device batch "
            f"{config.hparams.per_device_train_batch_size}, sequence length "
            f"{config.data.max_seq_length})"
        )
