"""Causal-LM SFT through TRL: records in TRL's dataset formats, ``SFTConfig``, ``SFTTrainer``.

TRL does the chat-template formatting, the completion-only and assistant-only masks, packing
and padding-free batching. hpsearch only maps its task settings onto TRL's standard columns
and ``SFTConfig`` fields:

* ``text`` records: TRL's language-modelling format (``dataset_text_field``);
* ``prompt_completion``: TRL's prompt-completion format, conversational (a user turn and the
  assistant's answer, rendered with the model's chat template) when ``chat_template`` is on
  and the tokenizer has one; ``completion_only_loss`` is TRL's;
* ``messages``: TRL's conversational format; ``completion_only_loss`` becomes TRL's
  ``assistant_only_loss`` (every assistant turn is learnt, every other token masked).

A tokenizer without a chat template (or ``chat_template: false``) renders chats in hpsearch's
plain format, ``<|role|>\\ncontent\\n`` per turn, given to TRL as a template with generation
markers so that TRL's assistant masks apply to it too.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from transformers import Trainer
from transformers.utils import is_triton_available
from trl import SFTConfig, SFTTrainer
from trl.chat_template_utils import get_training_chat_template, has_generation_markers

from hpsearch.trainers._base import ConfigError, DataConfig, DatasetError
from hpsearch.trainers._data import RawData
from hpsearch.trainers._trainer import HpsTrainer

__all__ = [
    "PLAIN_CHAT_TEMPLATE",
    "HpsSFTTrainer",
    "SFTData",
    "sft_arguments",
    "sft_data",
    "sft_summary",
    "tiled_head_runs_in_triton",
]

# hpsearch's plain chat format (no template, or chat_template: false), with TRL's markers.
PLAIN_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}<|assistant|>\n"
    "{% generation %}{{ m['content'] }}\n{% endgeneration %}"
    "{% else %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

SFT_FIELDS = frozenset(f.name for f in dataclasses.fields(SFTConfig))


@dataclasses.dataclass(frozen=True)
class SFTData:
    """Train and eval records in TRL's formats, the tokenizer to use and the SFT settings."""

    train: Any  # datasets.Dataset
    eval: Any
    tokenizer: Any
    arguments: dict[str, Any]  # SFTConfig fields set from the task's data settings


def tiled_head_runs_in_triton(device: Any) -> bool:
    """Whether TRL's fused LM head runs its Triton kernels on ``device`` (CUDA or XPU with
    Triton installed); elsewhere (CPU, MPS) TRL folds its tiles with plain torch ops."""
    return is_triton_available() and str(getattr(device, "type", device)) in ("cuda", "xpu")


class _TrainingLoss(SFTTrainer):
    """Which loss a training step computes: TRL's fused LM head, or the model's own.

    TRL's ``compute_loss`` always projects through its fused LM head, which scores the tokens
    in tiles without building the logits and computes entropy and token accuracy for its logs.
    With Triton (CUDA, XPU) that saves memory; without it TRL folds every tile with a dozen
    plain torch passes over the (tokens x vocabulary) logits and recomputes the projection in
    the backward pass, which on a CPU costs about twice the model's own cross-entropy loss
    (docs/benchmarks.md, "TRL's SFTTrainer vs the hand-written causal-LM path"). There a
    training step takes the model's own loss through ``Trainer.compute_loss``: the same
    negative log-likelihood over the same labels (TRL's masks, packing and collator), divided
    by the same ``num_items_in_batch``; only the train logs' ``entropy`` and
    ``mean_token_accuracy`` are not computed. Evaluation always uses TRL's loss (its
    ``eval_entropy`` and ``eval_mean_token_accuracy`` stay available as study metrics), and so
    does training where TRL's loss differs from the model's (``loss_type: dft``, label
    smoothing, a mixture-of-experts auxiliary loss).
    """

    def training_loss(self) -> str:
        """``"model"`` (the model's own loss) or ``"trl_fused_lm_head"``: what a training step
        computes (see the class)."""
        args: Any = self.args
        if args.loss_type != "nll" or self.label_smoother is not None:
            return "trl_fused_lm_head"
        if self.compute_loss_func is not None or getattr(self, "aux_loss_enabled", False):
            return "trl_fused_lm_head"
        if getattr(self.accelerator, "parallelism_config", None) is not None:
            return "trl_fused_lm_head"
        head = self.accelerator.unwrap_model(self.model).get_output_embeddings()
        if head is None or tiled_head_runs_in_triton(head.weight.device):
            return "trl_fused_lm_head"
        return "model"

    def compute_loss(
        self,
        model: Any,
        inputs: Any,
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        if model.training and self.training_loss() == "model":
            inputs["use_cache"] = False
            return Trainer.compute_loss(
                self,
                model,
                inputs,
                return_outputs=return_outputs,
                num_items_in_batch=num_items_in_batch,
            )
        return super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )


class HpsSFTTrainer(HpsTrainer, _TrainingLoss):
    """TRL's ``SFTTrainer`` with hpsearch's learning-rate groups, write guards and failpoints;
    a training step without TRL's Triton kernels takes the model's own loss (``_TrainingLoss``)."""

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """No model card: TRL writes a README.md into the output folder at every checkpoint,
        and a trial's checkpoints folder holds only committed checkpoints (the retry and the
        cleanup rely on it); the trial's record is the study."""


def sft_summary(trainer: SFTTrainer) -> dict[str, Any]:
    """What TRL does with the trial's data: its loss mask, packing and batching."""
    args: Any = trainer.args  # the SFTConfig it was built with
    if args.assistant_only_loss:
        mask = "assistant_only"
    elif trainer.completion_only_loss:
        mask = "completion_only"
    else:
        mask = "none"
    return {
        "trainer": "trl.SFTTrainer",
        "loss_mask": mask,
        "packing": args.packing and args.packing_strategy,
        "padding_free": bool(trainer.padding_free),
        "max_length": args.max_length,
        "training_loss": trainer.training_loss() if isinstance(trainer, _TrainingLoss) else None,
    }


def _message_rows(split: Any, field: str) -> Any:
    """The split with its chats in column ``messages``, each checked to be {role, content}."""
    for index, messages in enumerate(split[field]):
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and "role" in m and "content" in m for m in messages
        ):
            raise DatasetError(
                f"column {field!r} must hold lists of {{role, content}} messages "
                f"(record {index} does not)"
            )
    rows = split.select_columns([field])
    return rows.rename_column(field, "messages") if field != "messages" else rows


def _prompt_rows(split: Any, data: DataConfig, conversational: bool) -> Any:
    def convert(record: dict[str, Any]) -> dict[str, Any]:
        prompt, completion = str(record[data.prompt_field]), str(record[data.completion_field])
        if conversational:
            return {
                "prompt": [{"role": "user", "content": prompt}],
                "completion": [{"role": "assistant", "content": completion}],
            }
        return {"prompt": prompt, "completion": completion}

    return split.map(convert, remove_columns=split.column_names)


def _text_rows(split: Any, field: str) -> Any:
    return split.map(lambda record: {"text": str(record[field])}, remove_columns=split.column_names)


def _chat_tokenizer(tokenizer: Any, data: DataConfig, fmt: str) -> Any:
    """The tokenizer, with hpsearch's plain template where the model's is not used."""
    if fmt != "messages":
        return tokenizer
    if data.chat_template and getattr(tokenizer, "chat_template", None):
        if data.completion_only_loss and not has_generation_markers(tokenizer.chat_template):
            try:
                get_training_chat_template(tokenizer)
            except ValueError as exc:
                raise ConfigError(
                    "completion_only_loss on chat data needs a chat template that marks the "
                    "assistant's tokens ({% generation %} ... {% endgeneration %}), and TRL has "
                    "no training version of this model's template; set task.chat_template to "
                    "false (hpsearch's plain chat format), give the tokenizer a template with "
                    "generation markers, or turn completion_only_loss off"
                ) from exc
        return tokenizer
    plain = copy.copy(tokenizer)  # the cached tokenizer keeps its own template
    plain.chat_template = PLAIN_CHAT_TEMPLATE
    return plain


def sft_data(raw: RawData, tokenizer: Any, data: DataConfig) -> SFTData:
    """Records of a causal-LM task in TRL's formats, ready for :class:`HpsSFTTrainer`."""
    fmt = raw.format
    arguments: dict[str, Any] = {
        "max_length": data.max_seq_length,
        "packing": data.packing,
        "dataset_text_field": "text",
    }
    if fmt == "messages":
        convert = lambda split: _message_rows(split, data.messages_field)  # noqa: E731
        arguments["assistant_only_loss"] = data.completion_only_loss
        arguments["completion_only_loss"] = False
    elif fmt == "prompt_completion":
        conversational = data.chat_template and bool(getattr(tokenizer, "chat_template", None))
        convert = lambda split: _prompt_rows(split, data, conversational)  # noqa: E731
        arguments["completion_only_loss"] = data.completion_only_loss
    elif fmt == "text":
        convert = lambda split: _text_rows(split, data.text_field)  # noqa: E731
        arguments["completion_only_loss"] = False
    else:
        raise ConfigError(
            f"data format {fmt!r} is not a causal-LM format (text, prompt_completion, messages)"
        )
    return SFTData(
        convert(raw.train), convert(raw.eval), _chat_tokenizer(tokenizer, data, fmt), arguments
    )


def sft_arguments(base: dict[str, Any], data_arguments: dict[str, Any]) -> SFTConfig:
    """``SFTConfig`` from the TrainingArguments hpsearch sets, the data's and the space's fields.

    TRL changes a few TrainingArguments defaults (learning rate, gradient checkpointing,
    logging steps, bf16); a trial keeps transformers' defaults unless the space sets them, so
    the same space means the same training for old and new studies. For the same reason a
    task's ``packing`` is TRL's ``wrapped`` strategy (concatenate and cut into blocks, what
    hpsearch's packing always was) unless the space sets ``packing_strategy`` (TRL's default,
    best-fit ``bfd``, truncates a document longer than a block; ``bfd_split`` keeps it whole).
    """
    defaults = {
        "learning_rate": 5e-5,
        "activation_checkpointing": False,
        "packing_strategy": "wrapped",
    }
    overlap = sorted(set(data_arguments) & set(base))
    if overlap:
        raise ConfigError(
            f"{', '.join(overlap)} follow the task's data settings (max_seq_length, packing, "
            "completion_only_loss); set them there, not in the space"
        )
    # transformers mirrors activation_checkpointing (set here) onto the gradient_checkpointing
    # that TRL reads, whose TRL default would otherwise switch it on
    return SFTConfig(**{**defaults, **data_arguments, **base})
