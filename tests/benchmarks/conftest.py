"""Put ``benchmarks/`` on ``sys.path`` so the tests import the benchmark's modules by name."""

from tests.benchmarks import _se_paths  # noqa: F401  (inserts benchmarks/ into sys.path)
