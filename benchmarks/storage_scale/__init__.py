"""The storage scale benchmark: ``python -m benchmarks.storage_scale``."""
