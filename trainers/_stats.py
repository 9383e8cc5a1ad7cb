"""Peak memory of one trial: CUDA allocator peak on a GPU, resident-set peak on a CPU."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch


def _read_hwm_kb() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class MemoryMeter:
    """Reset at trial start, read at the end; works in long-lived worker processes."""

    def __init__(self) -> None:
        self.cuda = torch.cuda.is_available()

    def reset(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            # "5" resets the peak resident set size (Linux >= 4.0)
            with contextlib.suppress(OSError):
                Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")

    def peak_mb(self) -> float | None:
        if self.cuda:
            return round(torch.cuda.max_memory_allocated() / 2**20, 1)
        kb = _read_hwm_kb()
        return None if kb is None else round(kb / 1024, 1)

    @property
    def kind(self) -> str:
        return "cuda_max_allocated" if self.cuda else "process_peak_rss"
