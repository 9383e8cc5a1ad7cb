"""Ray placement: connect to (or start) Ray, and keep a pool of long-lived trial workers.

Workers are actors with ``max_restarts=0`` and ``max_task_retries=0``: Ray never re-runs a
trial, the driver does (through :mod:`hpsearch.search.engine._reaper`). Trials that request GPUs get
``num_gpus`` (fractions pack several trials on one GPU); on a cluster without GPUs they run on
CPUs. A worker whose trials span N GPUs gets a placement group that keeps them on one node
(:mod:`hpsearch.search.engine._placement`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

from hpsearch.search.engine import _placement
from hpsearch.search.engine._pool_base import Clock, IdleWorkers, WallClock
from hpsearch.spaces.errors import EXIT_BAD_INPUT, EXIT_UNAVAILABLE, HpsearchError

_logger = logging.getLogger(__name__)

# Environment forwarded to workers (on other nodes too): hpsearch knobs and Hugging Face
# offline/caching settings. Never the storage URL: it travels inside each task.
_FORWARDED_ENV_PREFIXES = (
    "HPSEARCH_FAILPOINTS",
    "HPSEARCH_DB_",
    "HF_",
    "TRANSFORMERS_",
    "HUGGINGFACE_",
    "WANDB_",
    "MLFLOW_",
)


_RAY_LOCAL_HINT = (
    "check Ray's temporary folder (RAY_TMPDIR, default /tmp/ray: writable, with free "
    "space) and free memory; run again with --debug for Ray's own output, or join a "
    "running cluster with --address"
)
_RAY_REMOTE_HINT = (
    "start the cluster (ray start --head --port 6380) or drop --address to run "
    "locally; a token-authenticated cluster needs RAY_AUTH_MODE=token and "
    "RAY_AUTH_TOKEN on the driver; see docs/operations.md"
)


class RayConnectError(HpsearchError, RuntimeError):
    """Ray could not be started (``local``) or reached."""

    exit_code = EXIT_UNAVAILABLE

    def __init__(self, message: str, *, local: bool = False) -> None:
        super().__init__(message)
        self.local = local
        self.hint = _RAY_LOCAL_HINT if local else _RAY_REMOTE_HINT


class RayAddressError(HpsearchError, ValueError):
    """A Ray address that is not ``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST[:PORT]``."""


# Ray's one public switch for a single-machine Ray: with it off, Ray takes 127.0.0.1 as this
# node's address (what it does on macOS and Windows), and then every server of the instance
# (GCS, raylet, object manager, workers, dashboard agent, metrics exporter) binds loopback.
# Ray reads it once, when ``ray`` is first imported.
_SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
PROBE_TIMEOUT_S = 5.0


class WorkerPlanError(HpsearchError, ValueError):
    """No trial worker could ever start (it would wait forever with "0 running")."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Cluster:
    started_locally: bool
    cpus: float
    gpus: float
    nodes: int
    address: str


# Ray writes a runtime env, values and all, to world-readable logs (runtime_env_agent.log).
# A private local Ray's workers inherit this process's environment: send it no secrets.
_SECRET_ENV_MARKERS = ("TOKEN", "KEY", "PASSWORD", "SECRET", "CREDENTIAL")


def forwarded_env(*, secrets: bool = True) -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k.startswith(_FORWARDED_ENV_PREFIXES)
        and (secrets or not any(m in k.upper() for m in _SECRET_ENV_MARKERS))
    }


def parse_ray_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a cluster address; None for ``auto`` and ``local`` (no probe)."""
    value = address.strip()
    if value in ("auto", "local"):
        return None
    rest = value
    client = rest.startswith("ray://")
    if client:
        rest = rest[len("ray://") :]
    if "://" in rest or not rest or "/" in rest:
        raise RayAddressError(f"Ray address {address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    if rest.startswith("["):  # [IPv6]:PORT
        host, _, tail = rest[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = rest.rpartition(":") if ":" in rest else (rest, "", "")
    if not port_text and client:
        port_text = "10001"  # the Ray Client server's default port
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise RayAddressError(
            f"Ray address {address!r} needs a host and a port from 1 to 65535 (HOST:PORT)"
        )
    return host, int(port_text)


def _probe(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail in seconds, with one line, where Ray itself would retry for minutes."""
    target = parse_ray_address(address)
    if target is None:
        return
    host, port = target
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise RayConnectError(
            f"cannot connect to Ray at {address}: nothing answers on {host}:{port} ({reason})"
        ) from None
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return  # a TLS cluster: a plain gRPC handshake proves nothing
    import grpc

    channel = grpc.insecure_channel(f"{host}:{port}" if ":" not in host else f"[{host}]:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise RayConnectError(
            f"cannot connect to Ray at {address}: {host}:{port} accepts connections but "
            f"does not answer as a Ray cluster (no gRPC handshake within {timeout:g}s); "
            "is it the head's GCS port (ray start --head --port)?"
        ) from None
    finally:
        channel.close()


def _import_ray_single_machine() -> Any:
    """``import ray`` so that a private instance started from it binds loopback only."""
    if "ray" not in sys.modules:
        previous = os.environ.get(_SINGLE_MACHINE_ENV)
        os.environ[_SINGLE_MACHINE_ENV] = "0"
        try:
            import ray
        finally:  # only Ray's import reads it; children must not inherit it
            if previous is None:
                os.environ.pop(_SINGLE_MACHINE_ENV, None)
            else:
                os.environ[_SINGLE_MACHINE_ENV] = previous
    import ray
    import ray.util

    node_ip = ray.util.get_node_ip_address()
    try:
        loopback = ipaddress.ip_address(node_ip).is_loopback
    except ValueError:  # a host name
        loopback = False
    if not loopback:
        raise RayConnectError(
            f"refusing to start a private Ray on {node_ip}: it would listen on every "
            "interface. Ray was imported before hpsearch in this process; set "
            f"{_SINGLE_MACHINE_ENV}=0 before importing it, or pass --address",
            local=True,
        )
    return ray


def connect(address: str | None, *, num_cpus: int | None = None, debug: bool = False) -> Cluster:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), or start a private local one.

    A private Ray (no address, or ``local``) listens on 127.0.0.1 only. Joining a cluster is
    unchanged, after a quick check that something answers at the address.
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None and address.strip() == "local":
        address = None
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": debug,
        "logging_level": logging.INFO if debug else logging.ERROR,
        "configure_logging": True,
        "runtime_env": {"env_vars": forwarded_env(secrets=address is not None)},
    }
    if address is None:
        ray = _import_ray_single_machine()
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    else:
        try:
            _probe(address)
        except RayAddressError as exc:
            raise RayConnectError(f"cannot connect to Ray: {exc}") from None
        import ray
    already = ray.is_initialized()
    try:
        # "local" always starts a private Ray, even on a machine that is already a Ray node
        ray.init(address=address or "local", **kwargs)
    except Exception as exc:  # Ray raises bare Exception, OSError, TimeoutError... at start
        if not already:
            with contextlib.suppress(Exception):  # stop whatever part of it did start
                ray.shutdown()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if address is None:
            message = f"cannot start a local Ray instance: {text}"
            raise RayConnectError(message, local=True) from None
        raise RayConnectError(f"cannot connect to Ray at {address}: {text}") from None
    resources = ray.cluster_resources()
    return Cluster(
        started_locally=address is None,
        cpus=float(resources.get("CPU", 0)),
        gpus=float(resources.get("GPU", 0)),
        nodes=len([n for n in ray.nodes() if n.get("Alive")]),
        address=ray.get_runtime_context().gcs_address,
    )


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def plan_workers(
    requested: int | None,
    budget: int | None,
    cluster: Cluster,
    gpus_per_trial: float,
    cpus_per_trial: float,
    *,
    processes: int = 1,
) -> tuple[int, float]:
    """(number of workers, GPUs per worker): GPU trials where there are GPUs, else CPU
    (no more workers than the trial budget; None: no trial limit).

    A trial of ``processes`` ranks needs that many GPUs (or ``processes x cpus_per_trial``
    cores) on one node: it is counted per node, never across nodes.
    """
    gpus = gpus_per_trial if cluster.gpus > 0 else 0.0
    if requested is not None and requested < 1:
        raise WorkerPlanError(f"the number of workers must be at least 1, got {requested}")
    cpus_needed = cpus_per_trial * processes
    if cluster.started_locally and (cpus_needed > cluster.cpus or gpus > cluster.gpus):
        # No worker could ever start: say so now rather than wait with "0 running".
        need = f"{cpus_needed:g} CPU" + (f" and {gpus:g} GPU" if gpus else "")
        raise WorkerPlanError(
            f"a trial needs {need} but this machine's Ray has {cluster.cpus:g} CPU and "
            f"{cluster.gpus:g} GPU; lower resources.cpus_per_trial/gpus_per_trial in the "
            "space, or join a larger cluster with --address"
        )
    if processes > 1:
        import ray

        fit = _placement.trials_that_fit(ray.nodes(), processes, cpus_per_trial, gpus)
        if fit < 1:
            raise WorkerPlanError(
                f"a trial of {processes} processes needs "
                f"{_placement.worker_resources(processes, cpus_per_trial, gpus)} on one node, "
                "and no node of the cluster has that much; lower resources.gpus_per_trial"
            )
        return (requested if requested is not None else max(1, min(fit, budget or fit))), gpus
    if requested is not None:
        return requested, gpus
    if gpus > 0:
        fit = int(cluster.gpus / gpus + 1e-9)
    else:
        fit = int(cluster.cpus / cpus_per_trial + 1e-9)
    return max(1, min(fit, budget or fit)), gpus


class RayPool(IdleWorkers):
    """A fixed number of trial-worker actors, each running one trial at a time.

    A :class:`~hpsearch.search.engine.WorkerPool` on wall time."""

    def __init__(
        self, size: int, *, cpus_per_trial: float, gpus_per_trial: float, processes: int = 1
    ) -> None:
        self.size = size
        self.cpus_per_trial = cpus_per_trial  # per process when a trial has several
        self.gpus_per_trial = gpus_per_trial
        self.clock: Clock = WallClock()
        self.processes = processes
        self._actors: list[Any] = []
        self._placements: list[dict[str, Any] | None] = []
        self._all_idle(0)
        self._next_id = 0

    def _spawn(self) -> tuple[Any, dict[str, Any] | None]:
        import ray

        from hpsearch.search.engine._worker import TrialWorker

        self._next_id += 1
        placement = None
        resources: dict[str, Any] = {
            "num_cpus": self.cpus_per_trial,
            "num_gpus": self.gpus_per_trial,
        }
        if self.processes > 1:
            placement = _placement.placement_options(
                self.processes, self.cpus_per_trial, self.gpus_per_trial
            )
            resources = placement
        actor_cls = ray.remote(TrialWorker).options(**resources, max_restarts=0, max_task_retries=0)
        return actor_cls.remote(self._next_id), placement

    def start(self) -> None:
        spawned = [self._spawn() for _ in range(self.size)]
        self._actors = [actor for actor, _ in spawned]
        self._placements = [placement for _, placement in spawned]
        self._all_idle(self.size)

    def submit(self, index: int, task: Any) -> Any:
        return self._actors[index].run.remote(task)

    def actor(self, index: int) -> Any:
        return self._actors[index]

    def wait(self, refs: list[Any], timeout: float) -> list[tuple[Any, Any]]:
        """Finished refs with their result, or the exception that ended them."""
        import ray

        if not refs:
            time.sleep(timeout)
            return []
        ready, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready and rest:  # collect whatever else has finished too, without waiting
            more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
            ready += more
        out = []
        for ref in ready:
            try:
                out.append((ref, ray.get(ref)))
            except Exception as exc:
                out.append((ref, exc))
        return out

    @staticmethod
    def is_worker_lost(exc: BaseException) -> bool:
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        return isinstance(exc, (RayActorError, ActorDiedError, ActorUnavailableError))

    def replace(self, index: int) -> None:
        """Replace a dead worker; Ray places the new one wherever resources are free."""
        import ray

        with contextlib.suppress(Exception):  # already dead
            ray.kill(self._actors[index], no_restart=True)
        if index < len(self._placements):
            _placement.remove_group(self._placements[index])
        self._actors[index], self._placements[index] = self._spawn()
        self.release(index)

    def exhausted(self) -> bool:
        return False

    def shutdown(self) -> None:
        import ray

        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
        for placement in self._placements:
            _placement.remove_group(placement)
        self._actors = []
        self._placements = []
        self._idle.clear()
