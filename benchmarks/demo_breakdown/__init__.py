"""The demo breakdown benchmark: ``python -m benchmarks.demo_breakdown``."""
