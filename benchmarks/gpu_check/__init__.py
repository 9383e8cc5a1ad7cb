"""The one-call GPU check of hpsearch (issue 16): ``python -m benchmarks.gpu_check --out DIR``.

On one CUDA GPU it runs hpsearch's own trial runner (``hpsearch.trainers``) against a SQLite
study on a Qwen3-0.6B-sized causal LM built from its config (random weights, a byte-level
tokenizer built here): a LoRA bf16 trial, a QLoRA trial, full fine-tuning with 8-bit AdamW,
sdpa against flash attention, a real CUDA out-of-memory error retried with half the batch,
four trials packed at ``gpus_per_trial: 0.25`` and a plain ``transformers.Trainer`` baseline.
It writes ``gpu_check.json`` and ``gpu_check.md`` (figures and pass/fail goals). ``--dry-run``
runs the same plumbing on a tiny model on the CPU; a part that cannot run says "not run" and
why, never a figure it did not measure. See README.md beside this file.
"""

__all__: list[str] = []
