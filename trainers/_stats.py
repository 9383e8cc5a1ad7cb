"""Peak memory of one trial: CUDA allocator peak on a GPU, resident-set peak on a CPU."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch


def _read_status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class MemoryMeter:
    """Reset at trial start, read at the end; works in long-lived worker processes."""

    def __init__(self) -> None:
        self.cuda = torch.cuda.is_available()
        self.start_mb: float | None = None

    def reset(self) -> None:
        """Start measuring; the model's weights are already in memory."""
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.start_mb = torch.cuda.memory_allocated() / 2**20
        else:
            # "5" resets the peak resident set size (Linux >= 4.0)
            with contextlib.suppress(OSError):
                Path(f"/proc/{os.getpid()}/clear_refs").write_text("5")

    def peak_mb(self) -> float | None:
        if self.cuda:
            return round(torch.cuda.max_memory_allocated() / 2**20, 1)
        kb = _read_status_kb("VmHWM")
        return None if kb is None else round(kb / 1024, 1)

    def growth_mb(self) -> float | None:
        """CUDA peak minus the memory in use at ``reset`` (what training added to the weights).

        None on a CPU: the resident set of a long-lived worker reuses freed heap memory, so its
        growth says little about one trial (measured: it varied 10x for similar trials).
        """
        if not self.cuda or self.start_mb is None:
            return None
        return round(max(torch.cuda.max_memory_allocated() / 2**20 - self.start_mb, 0.0), 1)

    @property
    def kind(self) -> str:
        return "cuda_max_allocated" if self.cuda else "process_peak_rss"
