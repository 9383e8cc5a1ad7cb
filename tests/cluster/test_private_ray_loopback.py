"""The private Ray that ``hpsearch run`` starts listens on loopback only.

A real ``hpsearch run`` (no ``--address``) runs a simulated study; while a trial runs, every
TCP socket in LISTEN state held by the driver or any process under it (GCS, raylet, object
manager, Ray workers and agents) is read from ``/proc/net/tcp*`` and ``/proc/PID/fd`` and
must be bound to 127.0.0.1 or ::1. Ray's own switch is removed from the environment, so the
test proves hpsearch sets it up itself.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.helpers import Driver, poll, write_space


def _listening() -> dict[str, tuple[str, int]]:
    """inode -> (address, port) of every TCP socket in LISTEN state."""
    out: dict[str, tuple[str, int]] = {}
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        with open(f"/proc/net/{name}") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                if fields[3] != "0A":  # TCP_LISTEN
                    continue
                hex_ip, hex_port = fields[1].split(":")
                raw = bytes.fromhex(hex_ip)
                # the kernel prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                out[fields[9]] = (socket.inet_ntop(family, raw), int(hex_port, 16))
    return out


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier += [child for child, parent in parents.items() if parent == pid]
    return found


def _sockets(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[len("socket:[") : -1])
    return inodes


def _is_loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return (mapped or address).is_loopback


def _started(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/PID/stat): tells a reused pid apart."""
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return None


def _name(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return "?"


@pytest.fixture
def ray_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="hl", dir="/tmp")  # short: socket paths are limited
    monkeypatch.setenv("RAY_TMPDIR", folder)
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)  # hpsearch's job
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_private_ray_listens_on_loopback_only(ray_tmpdir: str, tmp_path: Path) -> None:
    space = write_space(tmp_path, trials=2, cpus=0.5, max_steps=100, seconds_per_step=0.3)
    db = tmp_path / "studies.db"
    driver = Driver(
        ["run", "--space", space, "--study", "lo", "--storage", f"sqlite:///{db}"],
        tmp_path / "driver.log",
    )
    seen: dict[int, str | None] = {}
    try:

        def trial_running() -> bool:
            assert driver.running(), driver.output()
            return "trial 0: started" in driver.output()

        poll("a running trial", trial_running, timeout=180)
        seen = {pid: _started(pid) for pid in descendants(driver.proc.pid)}
        listening = _listening()
        sockets = {
            (pid, _name(pid), *listening[inode])
            for pid in seen
            for inode in _sockets(pid)
            if inode in listening
        }
        names = {name for _, name, _, _ in sockets}
        assert "gcs_server" in names and "raylet" in names, sockets  # Ray's servers were seen
        assert any(name.startswith("ray::") for name in names), sockets  # and a Ray worker
        exposed = sorted(s for s in sockets if not _is_loopback(s[2]))
        assert not exposed, f"listening beyond loopback: {exposed}"
    finally:
        if driver.running():
            driver.proc.send_signal(signal.SIGINT)  # hands the trial over and stops Ray
            with contextlib.suppress(AssertionError):
                driver.wait(60)
        driver.stop()
        for pid, started in seen.items():  # whatever of that Ray is still there
            if started is not None and _started(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
