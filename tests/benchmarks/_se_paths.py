"""Where the sample-efficiency benchmark's modules and the lcbench data are."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
DATA_PATH = Path(
    os.environ.get("HPSEARCH_LCBENCH_DATA", ROOT / ".." / "shared" / "data" / "yahpo_lcbench")
)

if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
