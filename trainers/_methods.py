"""Fine-tuning methods as strategy objects: LoRA, full fine-tuning and QLoRA.

A method decides how the base model is loaded (dtype, quantisation), whether a cached base can
be copied, what hardware it needs, how the base is adapted (LoRA adapters or every weight
trainable), the weight terms of the memory estimate, and how a trained trial is loaded back
(export, evaluation). Each is the implementation of one ``METHODS`` entry of
:mod:`hpsearch.spaces` (by dotted path); the entry's flags (``adapter``, ``quantized``) are
the method's plain-data facts, read by the space checks without importing this module.

torch, transformers and peft are imported inside the methods only: resolving a method (the
driver validating a space) imports none of them.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, ClassVar

from hpsearch.spaces import METHODS, ModelConfig, Plugin

__all__ = [
    "FineTuningMethod",
    "FullMethod",
    "LoraMethod",
    "QLoraMethod",
    "method_for",
    "torch_dtype",
]


def torch_dtype(name: str) -> Any:
    """The torch dtype of ``bf16``, ``fp16`` or ``fp32``."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


class FineTuningMethod:
    """The contract of a fine-tuning method (one ``METHODS`` entry)."""

    name: ClassVar[str]
    cacheable_base: ClassVar[bool] = True  # a cached base may be deep-copied per trial

    @property
    def entry(self) -> Plugin:
        return METHODS.get(self.name)

    def base_dtype(self, model: ModelConfig, compute_dtype: str) -> str:
        """The dtype the base weights are loaded in (the frozen base: the compute dtype)."""
        return compute_dtype

    def load_kwargs(self, model: ModelConfig, compute_dtype: str) -> dict[str, Any]:
        """Extra ``from_pretrained`` arguments (dtype, quantisation)."""
        return {"dtype": torch_dtype(self.base_dtype(model, compute_dtype))}

    def hardware_needs(self) -> tuple[str, ...]:
        """What of this method needs a CUDA GPU with bitsandbytes (empty: nothing)."""
        return ()

    def adapt(self, net: Any, model: ModelConfig, new_modules: tuple[str, ...]) -> Any:
        """Make ``net`` trainable the method's way (``net`` is the trial's own copy)."""
        from peft import LoraConfig, TaskType, get_peft_model

        task = TaskType.SEQ_CLS if model.task_type == "classification" else TaskType.CAUSAL_LM
        lora = dict(model.lora or {})
        config = LoraConfig(task_type=task, modules_to_save=list(new_modules) or None, **lora)
        return get_peft_model(net, config)

    def weight_terms(
        self, *, total_params: int, linear_params: int, adapter_params: int, act_bytes: int
    ) -> tuple[float, int]:
        """(bytes of weights held on the device, trainable parameters) for the memory estimate.

        ``adapter_params`` counts the LoRA adapters and new heads; adapters are kept in fp32.
        """
        return total_params * float(act_bytes) + adapter_params * 4.0, adapter_params

    def load_trained(self, folder: str, base_model: str, load_base: Any) -> Any:
        """A trained trial's model from its final ``folder`` (``load_base(path)`` loads a base)."""
        from peft import PeftModel

        return PeftModel.from_pretrained(load_base(base_model), folder)


class LoraMethod(FineTuningMethod):
    """LoRA adapters on a frozen base loaded in the compute dtype."""

    name = "lora"


class FullMethod(FineTuningMethod):
    """Every weight trains; fp32 master weights (mixed precision autocasts)."""

    name = "full"

    def base_dtype(self, model: ModelConfig, compute_dtype: str) -> str:
        return "fp32"

    def adapt(self, net: Any, model: ModelConfig, new_modules: tuple[str, ...]) -> Any:
        for param in net.parameters():
            param.requires_grad_(True)
        return net

    def weight_terms(
        self, *, total_params: int, linear_params: int, adapter_params: int, act_bytes: int
    ) -> tuple[float, int]:
        return total_params * 4.0, total_params

    def load_trained(self, folder: str, base_model: str, load_base: Any) -> Any:
        return load_base(folder)  # the folder holds the whole model


class QLoraMethod(FineTuningMethod):
    """LoRA on a 4-bit NF4 base (double-quantised), computed in ``quant_compute_dtype``."""

    name = "qlora"
    cacheable_base = False  # quantised weights cannot be deep-copied: loaded per trial

    def base_dtype(self, model: ModelConfig, compute_dtype: str) -> str:
        return model.quant_compute_dtype

    def load_kwargs(self, model: ModelConfig, compute_dtype: str) -> dict[str, Any]:
        from transformers import BitsAndBytesConfig

        dtype = torch_dtype(model.quant_compute_dtype)
        return {
            "dtype": dtype,
            "quantization_config": BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype,
            ),
        }

    def hardware_needs(self) -> tuple[str, ...]:
        return ("QLoRA (4-bit NF4 base weights)",)

    def adapt(self, net: Any, model: ModelConfig, new_modules: tuple[str, ...]) -> Any:
        from peft import prepare_model_for_kbit_training

        net = prepare_model_for_kbit_training(net, use_gradient_checkpointing=False)
        return super().adapt(net, model, new_modules)

    def weight_terms(
        self, *, total_params: int, linear_params: int, adapter_params: int, act_bytes: int
    ) -> tuple[float, int]:
        # NF4 weights, double-quantised absmax (~0.127 bit per weight); the rest in compute dtype
        other = total_params - linear_params
        weights = linear_params * (0.5 + 0.127 / 8) + other * act_bytes
        return weights + adapter_params * 4.0, adapter_params


@functools.cache
def method_for(name: str) -> FineTuningMethod:
    """The strategy of the method ``name`` (a ``METHODS`` entry)."""
    cls = METHODS.resolve(name)
    if not (isinstance(cls, type) and issubclass(cls, FineTuningMethod)):
        raise TypeError(f"method {name!r}: {cls!r} is not a FineTuningMethod subclass")
    return cls()


def copy_base(base: Any, model: ModelConfig) -> Any:
    """The trial's own copy of a cached base (the base itself when it cannot be copied)."""
    return copy.deepcopy(base) if method_for(model.method).cacheable_base else base
