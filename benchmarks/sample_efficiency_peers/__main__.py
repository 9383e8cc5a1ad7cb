"""``python -m benchmarks.sample_efficiency_peers``: the driver (``run_peers.py``)."""

from .run_peers import main

raise SystemExit(main())
