"""What the check trains on: a Qwen3 model folder built from its config, a tokenizer, the data.

Nothing comes from the hub: the weights are random (throughput and memory do not depend on
their values), the tokenizer is byte-level (256 byte tokens plus an end-of-text token, built
with ``tokenizers``) and the data is the Python standard library's own source text.
"""

from __future__ import annotations

import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["EOS", "QWEN3_06B", "TINY", "Sizes", "build_model", "build_tokenizer", "write_data"]

EOS = "<|endoftext|>"


@dataclass(frozen=True)
class Sizes:
    """The model's shape and the trials' batch and length."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    seq_len: int
    batch: int
    steps: int
    eval_samples: int
    full_steps: int  # full fine-tuning writes the whole model at each checkpoint: fewer steps


# Qwen3-0.6B's published config (hidden 1024, 28 layers, 16 query / 8 key-value heads of 128,
# MLP 3072, vocabulary 151936, tied embeddings).
QWEN3_06B = Sizes(1024, 3072, 28, 16, 8, 128, 151936, 512, 8, 100, 32, 40)
# The dry run: the same architecture, tiny, so that each part's plumbing runs on a CPU in seconds.
TINY = Sizes(32, 64, 2, 4, 2, 8, 320, 32, 4, 4, 8, 4)


def build_tokenizer(folder: Path) -> Any:
    """A byte-level tokenizer (ids 0-255 the bytes, 256 the end of text) saved in ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {char: i for i, char in enumerate(alphabet)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=EOS)
    tokenizer.save_pretrained(str(folder))
    return tokenizer


def build_model(folder: Path, sizes: Sizes, *, cuda: bool) -> dict[str, Any]:
    """A Qwen3 causal LM with random weights saved (bf16 on a GPU, fp32 on a CPU) in ``folder``."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(folder)
    config = Qwen3Config(
        vocab_size=sizes.vocab,
        hidden_size=sizes.hidden,
        intermediate_size=sizes.intermediate,
        num_hidden_layers=sizes.layers,
        num_attention_heads=sizes.heads,
        num_key_value_heads=sizes.kv_heads,
        head_dim=sizes.head_dim,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        rms_norm_eps=1e-6,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    dtype = torch.bfloat16 if cuda else torch.float32
    torch.manual_seed(0)
    with torch.device("cuda" if cuda else "cpu"):  # initialising 0.6B weights on a CPU is slow
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(str(folder))
    del model
    if cuda:
        torch.cuda.empty_cache()
    return {"parameters": params, "dtype": str(dtype).removeprefix("torch.")}


def _source_text(limit_chars: int) -> str:
    """Standard-library source files, in a fixed order, up to ``limit_chars`` characters."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    total = 0
    for path in sorted(stdlib.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        total += len(text)
        if total >= limit_chars:
            break
    return "".join(parts)[:limit_chars]


def write_data(folder: Path, sizes: Sizes, *, train_records: int) -> Path:
    """``train.jsonl`` and ``validation.jsonl`` of text records, each longer than a sequence.

    With packing every training block is a full ``seq_len`` sequence, so tokens per step are
    the same in every trial and in the standalone baseline.
    """
    folder.mkdir(parents=True, exist_ok=True)
    chunk = sizes.seq_len * 2
    records = train_records + sizes.eval_samples
    text = _source_text(chunk * records)
    chunks = [text[i * chunk : (i + 1) * chunk] for i in range(len(text) // chunk)]
    if len(chunks) < records:
        raise RuntimeError(
            f"the standard library holds too little source text for {records} records of "
            f"{chunk} characters"
        )
    splits = {"train": chunks[:train_records], "validation": chunks[train_records:records]}
    for name, rows in splits.items():
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({"text": row}) + "\n")
    return folder
