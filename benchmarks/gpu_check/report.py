"""The check's record: machine and packages, the wheel list, parts, goals; JSON and markdown.

A part is ``{"name", "status", "reason", "figures", "details"}``: ``status`` is ``measured``
(ran on a CUDA GPU), ``ran`` (the dry run's plumbing on a CPU: only what a CPU measures),
``failed`` (ran and broke: ``reason`` says how) or ``not run`` (``reason`` says why; no
figures). A goal is ``{"goal", "target", "measured", "result", "why"}`` with ``result``
``pass``, ``fail`` or ``not run`` (then ``measured`` is null).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import json
import platform
import re
import socket
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_WHEELS",
    "RESULTS",
    "STATUSES",
    "WHEELS_LIST",
    "flash_attn_reason",
    "goal",
    "machine",
    "markdown",
    "part",
    "versions",
    "wheel_check",
    "write",
]

HERE = Path(__file__).resolve().parent
WHEELS_LIST = HERE / "wheels.txt"
DEFAULT_WHEELS = HERE / "wheels"
PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "tokenizers",
    "datasets",
    "optuna",
    "sqlalchemy",
    "alembic",
    "trl",
    "bitsandbytes",
    "flash_attn",
    "nvidia-ml-py",
    "hpsearch",
)
STATUSES = ("measured", "ran", "failed", "not run")
RESULTS = ("pass", "fail", "not run")


def part(
    name: str,
    status: str,
    *,
    reason: str | None = None,
    figures: dict[str, float] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"part status {status!r} is not one of {', '.join(STATUSES)}")
    if status in ("not run", "failed") and (figures or not reason):
        raise ValueError(f"part {name!r} is {status}: it needs a reason and has no figures")
    return {
        "name": name,
        "status": status,
        "reason": reason,
        "figures": dict(figures or {}),
        "details": dict(details or {}),
    }


def goal(
    name: str, target: str, measured: float | None, passed: bool | None, why: str = ""
) -> dict[str, Any]:
    """``passed`` None: not run (``why`` says why, and nothing is measured)."""
    if passed is None:
        return {"goal": name, "target": target, "measured": None, "result": "not run", "why": why}
    result = "pass" if passed else "fail"
    return {"goal": name, "target": target, "measured": measured, "result": result, "why": why}


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine() -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out["gpu"] = props.name
        out["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        out["cuda_runtime"] = torch.version.cuda
        try:
            import pynvml

            pynvml.nvmlInit()
            out["driver"] = pynvml.nvmlSystemGetDriverVersion()
        except Exception:
            out["driver"] = None  # NVML unavailable: the busy-fraction sampler says so too
    return out


def wheel_check(folder: Path | None) -> dict[str, Any]:
    """The pinned list, and which of it is in ``folder`` (built by build_wheels.sh), if any."""
    listed = []
    for line in WHEELS_LIST.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
        if match is None:
            raise ValueError(f"{WHEELS_LIST}: {line!r} is not a pinned NAME==VERSION line")
        listed.append((match.group(1), match.group(2)))
    out: dict[str, Any] = {"listed": [f"{n}=={v}" for n, v in listed], "folder": None}
    # pins that differ from this environment (the one the tests ran in): worth a look
    out["differs_here"] = {
        n: here for n, v in listed if (here := _installed(n)) is not None and here != v
    }
    if folder is None or not folder.is_dir():
        out["note"] = "no wheel folder here (build it with build_wheels.sh)"
        return out
    files = sorted(p.name for p in folder.glob("*.whl"))
    found = {(_norm(f.split("-")[0]), f.split("-")[1]) for f in files}
    missing = [f"{n}=={v}" for n, v in listed if (_norm(n), v) not in found]
    total = sum(p.stat().st_size for p in folder.glob("*.whl"))
    out.update(
        folder=str(folder),
        files=files,
        missing=missing,
        hpsearch_wheel=any(f.startswith("hpsearch-") for f in files),
        total_mib=round(total / 2**20, 1),
    )
    return out


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def flash_attn_reason() -> str | None:
    """Why flash attention cannot run here, or None when it can."""
    import torch

    if importlib.util.find_spec("flash_attn") is None:
        return "flash_attn not installed"
    if not torch.cuda.is_available():
        return "no CUDA"
    return None


def write(out_dir: Path, record: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "gpu_check.json"
    md_path = out_dir / "gpu_check.md"
    json_path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    md_path.write_text(markdown(record))
    return json_path, md_path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def markdown(record: dict[str, Any]) -> str:
    m = record["machine"]
    where = m.get("gpu") or "CPU (no CUDA)"
    lines = [
        f"GPU check ({record['mode']}), {m['date_utc']} UTC, {where}, host {m['host']}, "
        f"Python {m['python']}, torch {record['versions'].get('torch')}, transformers "
        f"{record['versions'].get('transformers')}; {record['wall_s']:.0f} s in all.",
        "",
        "| part | status | figures | note |",
        "| --- | --- | --- | --- |",
    ]
    if not record.get("complete", True):
        lines[1:1] = [
            "",
            "**Incomplete: written after the last part that ended; the run stopped.**",
        ]
    for p in record["parts"]:
        figures = ", ".join(f"{k} {_fmt(v)}" for k, v in p["figures"].items()) or "-"
        note = (p["reason"] or "").replace("|", "/").replace("\n", " ")[:300]
        lines.append(f"| {p['name']} | {p['status']} | {figures} | {note} |")
    lines += ["", "| goal | target | measured | result |", "| --- | --- | --- | --- |"]
    for g in record["goals"]:
        measured = "-" if g["measured"] is None else _fmt(g["measured"])
        result = g["result"] + (f" ({g['why']})" if g["why"] else "")
        lines.append(f"| {g['goal']} | {g['target']} | {measured} | {result} |")
    return "\n".join(lines) + "\n"
