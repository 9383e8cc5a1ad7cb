"""Which loss a causal-LM training step computes: TRL's fused LM head, or the model's own.

Off Triton (this CPU) TRL's fused LM head folds its tiles with plain torch ops at about twice
the cost of the model's own loss; a training step there takes the model's loss. It must be the
same loss on the same labels (TRL's masks, packing, collator), and evaluation keeps TRL's loss
and metrics (a study may optimise ``eval_mean_token_accuracy``).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from trl import SFTTrainer

from hpsearch.trainers import DataConfig, sft_summary, tiled_head_runs_in_triton
from tests.trainers.helpers import sft_batch


def _loss_and_head_grad(trainer: Any, batch: dict[str, Any], compute: Any) -> tuple[float, Any]:
    model = trainer.model
    model.train()
    model.zero_grad()
    inputs = trainer._prepare_inputs(dict(batch))
    items = int((inputs["labels"][:, 1:] != -100).sum())
    loss = compute(trainer, model, inputs, num_items_in_batch=torch.tensor(items))
    loss.backward()
    grad = model.get_output_embeddings().weight.grad.detach().clone()
    return float(loss.detach()), grad


@pytest.mark.parametrize("setting", ["completion_only", "packing"])
def test_a_cpu_training_step_takes_the_models_own_loss_equal_to_trls(
    tiny_qwen3: str, prompt_completion_jsonl: str, text_jsonl: str, setting: str
) -> None:
    if setting == "packing":  # best-fit packing: one padding-free row with sequence boundaries
        data = DataConfig(text_jsonl, max_seq_length=64, packing=True, max_train_samples=40)
    else:
        data = DataConfig(
            prompt_completion_jsonl,
            max_seq_length=64,
            completion_only_loss=True,
            max_train_samples=16,
        )
    trainer, batch = sft_batch(tiny_qwen3, data, per_device_train_batch_size=4)
    assert not tiled_head_runs_in_triton(torch.device("cpu"))
    assert trainer.training_loss() == "model"
    assert sft_summary(trainer)["training_loss"] == "model"

    ours, our_grad = _loss_and_head_grad(trainer, batch, type(trainer).compute_loss)
    # the model's own loss computes none of TRL's per-step metrics (entropy, token accuracy)
    assert "mean_token_accuracy" not in trainer._metrics["train"]
    trls, trl_grad = _loss_and_head_grad(trainer, batch, SFTTrainer.compute_loss)
    assert ours == pytest.approx(trls, rel=1e-5)
    assert torch.allclose(our_grad, trl_grad, rtol=1e-4, atol=1e-7)


def test_evaluation_keeps_trls_loss_and_metrics(tiny_qwen3: str, text_jsonl: str) -> None:
    data = DataConfig(text_jsonl, max_seq_length=32, max_train_samples=8, max_eval_samples=8)
    trainer, _ = sft_batch(tiny_qwen3, data, per_device_eval_batch_size=8)
    metrics = trainer.evaluate()
    assert {"eval_loss", "eval_entropy", "eval_mean_token_accuracy"} <= set(metrics)


def test_trls_own_loss_where_it_differs_from_the_models(tiny_qwen3: str, text_jsonl: str) -> None:
    data = DataConfig(text_jsonl, max_seq_length=32, max_train_samples=8)
    trainer, _ = sft_batch(tiny_qwen3, data, loss_type="dft")
    assert trainer.training_loss() == "trl_fused_lm_head"
