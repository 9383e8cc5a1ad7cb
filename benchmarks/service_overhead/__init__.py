"""The service overhead benchmark: ``python -m benchmarks.service_overhead``."""
