"""The memory estimate benchmark: ``python -m benchmarks.memory_estimate``."""
