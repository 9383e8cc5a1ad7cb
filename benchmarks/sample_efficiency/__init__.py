"""The sample-efficiency benchmark: hpsearch's real driver on the simulated pool, with YAHPO
Gym's lcbench surrogate as the trainer (``python -m benchmarks.sample_efficiency``).

``lcbench`` (the surrogate, numpy and onnxruntime only: the peer benchmark's virtualenvs import
it too), ``runner`` (one study on the simulated pool), ``report`` (figures and tables).
"""
