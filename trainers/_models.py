"""Load base models and tokenizers, pick precision, and apply LoRA / full / QLoRA.

Base models are cached per worker process: a trial deep-copies the cached base instead of
reloading it from disk, so back-to-back trials on one worker pay no load time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any

import torch

from hpsearch.trainers._base import ModelConfig, UnsupportedHardwareError
from hpsearch.trainers._methods import copy_base, method_for


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32
    bf16: bool
    fp16: bool


def device_kind() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def select_precision(requested: str) -> Precision:
    """``auto``: bf16 where the device supports it, else fp16 on CUDA, else fp32."""
    cuda = torch.cuda.is_available()
    if requested == "auto":
        if cuda and torch.cuda.is_bf16_supported():
            requested = "bf16"
        else:
            requested = "fp16" if cuda else "fp32"
    if requested == "fp16" and not cuda:
        raise UnsupportedHardwareError(
            "fp16 mixed precision needs a CUDA GPU; this worker has "
            "none (use precision: auto or fp32)"
        )
    return Precision(requested, requested == "bf16", requested == "fp16")


def check_attention(model: ModelConfig) -> None:
    if model.attn_implementation == "flash_attention_2" and (
        importlib.util.find_spec("flash_attn") is None or not torch.cuda.is_available()
    ):
        raise UnsupportedHardwareError(
            "attn_implementation flash_attention_2 needs a CUDA GPU and the flash-attn package "
            "(pip install flash-attn); use sdpa instead"
        )


def check_method_hardware(model: ModelConfig, optim: str | None) -> None:
    """QLoRA and 8-bit optimisers need CUDA and bitsandbytes: fail clearly, never fall back."""
    needs_bnb = list(method_for(model.method).hardware_needs())
    if optim and "8bit" in optim:
        needs_bnb.append(f"the {optim} optimizer")
    for what in needs_bnb:
        if not torch.cuda.is_available():
            raise UnsupportedHardwareError(
                f"{what} needs a CUDA GPU with bitsandbytes; this worker has no CUDA device"
            )
        if importlib.util.find_spec("bitsandbytes") is None:
            raise UnsupportedHardwareError(
                f"{what} needs bitsandbytes; install it with: pip install bitsandbytes"
            )


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    return tokenizer


def load_model(
    path: str,
    model: ModelConfig,
    *,
    num_labels: int | None,
    label_names: tuple[str, ...] | None,
    compute_dtype: str = "fp32",
) -> tuple[Any, tuple[str, ...]]:
    """The base model and the names of modules newly initialised at load time."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    # The method decides the load dtype and quantisation (fp32 master weights for full
    # fine-tuning, the compute dtype for LoRA's frozen base, 4-bit NF4 for QLoRA).
    kwargs: dict[str, Any] = {
        "attn_implementation": model.attn_implementation,
        **method_for(model.method).load_kwargs(model, compute_dtype),
    }
    if model.task_type == "classification":
        if label_names:
            kwargs["id2label"] = dict(enumerate(label_names))
            kwargs["label2id"] = {n: i for i, n in enumerate(label_names)}
        result: Any = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, output_loading_info=True, **kwargs
        )
    else:
        result = AutoModelForCausalLM.from_pretrained(path, output_loading_info=True, **kwargs)
    loaded, info = result
    if getattr(loaded.config, "pad_token_id", None) is None:
        loaded.config.pad_token_id = getattr(loaded.config, "eos_token_id", None)
    new_modules = sorted({k.rsplit(".", 1)[0] for k in info.get("missing_keys", ())})
    return loaded, tuple(new_modules)


def adapt(base: Any, model: ModelConfig, *, new_modules: tuple[str, ...]) -> Any:
    """Apply the fine-tuning method to the trial's copy of ``base`` (the base itself when
    the method's base cannot be copied)."""
    return method_for(model.method).adapt(copy_base(base, model), model, new_modules)


def count_parameters(net: Any) -> tuple[int, int]:
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    total = sum(p.numel() for p in net.parameters())
    return trainable, total
