"""Public HPO libraries on the lcbench surrogate, beside hpsearch's sample-efficiency benchmark.

See ``run_peers.py`` (driver), ``report.py`` (figures), ``setup_envs.sh`` (one virtualenv per
library) and ``README.md``.
"""
