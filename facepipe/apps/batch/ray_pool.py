"""Ray workers for the batch runner (Ray is the optional extra `facepipe[ray]`).

Each worker is an actor holding a `BatchWorker`, so its models load once and serve every file it
is given; each actor gets one file at a time. An actor that dies (killed, crashed, its node lost)
is replaced by a fresh one and its file is handed back to the runner as a failed attempt.

A cluster started here (`ray="local"`) has 127.0.0.1 as its node address, no dashboard and no
usage statistics (Ray 2.60's gRPC servers still listen on all interfaces: see docs/scaling.md).
Joining a cluster ("auto" or an address) needs facepipe, its models and the same paths to the
inputs and outputs (a shared filesystem) on every node.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

from facepipe.apps.batch.tasks import BatchWorker, ItemResult, Task, WorkItem
from facepipe.errors import FacepipeError, InputError

log = logging.getLogger("facepipe.batch")

__all__ = ["RayPool", "connect"]


def _ray() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'facepipe[ray]'") from None
    return ray


def connect(address: str, num_cpus: int) -> bool:
    """Start a local cluster ("local") with num_cpus or join one; True if this call started Ray."""
    ray = _ray()
    if ray.is_initialized():
        return False
    common = {"logging_level": logging.WARNING, "log_to_driver": False, "configure_logging": False}
    try:
        if address == "local":
            ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **common)
        else:
            ray.init(address=address, **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FacepipeError(f"Ray cluster {address}: could not connect ({exc})") from exc
    return True


class RayPool:
    """`workers` actors of `threads` CPUs each; one file in flight per actor."""

    def __init__(self, task: Task, address: str, workers: int | None, threads: int, files: int) -> None:
        ray = self._ray = _ray()
        if address == "local":
            workers = workers or os.cpu_count() or 1
            self._owns = connect(address, workers * threads)
        else:
            self._owns = connect(address, 0)
            if workers is None:
                cpus = ray.cluster_resources().get("CPU", 1)
                workers = max(1, math.floor(cpus / threads))
        self.size = max(1, min(workers, files))
        self._task = task.with_threads(threads)
        self._actor_class = ray.remote(num_cpus=threads, max_restarts=0)(BatchWorker)
        self._idle = [self._new_actor() for _ in range(self.size)]
        self._in_flight: dict[Any, tuple[WorkItem, Any]] = {}  # result ref -> (file, actor)
        log.info("Ray: %d worker(s) of %d CPU(s) on %s", self.size, threads, address)

    def _new_actor(self) -> Any:
        return self._actor_class.remote(self._task)

    def idle(self) -> bool:
        return bool(self._idle)

    def busy(self) -> bool:
        return bool(self._in_flight)

    def submit(self, item: WorkItem) -> Any:
        actor = self._idle.pop()
        self._in_flight[actor.run.remote(item)] = (item, actor)
        return actor

    def next_result(self) -> tuple[WorkItem, ItemResult]:
        ray = self._ray
        ready, _ = ray.wait(list(self._in_flight), num_returns=1)
        item, actor = self._in_flight.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayActorError as exc:
            log.warning("%s: its worker was lost (%s); starting a new worker", item.input,
                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            ray.kill(actor, no_restart=True)
            self._idle.append(self._new_actor())
            return item, ItemResult(item.input, False, error=f"{item.input}: its Ray worker was lost",
                                    worker_lost=True)
        except ray.exceptions.RayError as exc:  # e.g. the file could not be sent to the worker
            result = ItemResult(item.input, False, error=f"{item.input}: Ray: {type(exc).__name__}: {exc}")
        self._idle.append(actor)
        return item, result

    def close(self) -> None:
        ray = self._ray
        for actor in self._idle + [a for _, a in self._in_flight.values()]:
            ray.kill(actor, no_restart=True)
        self._idle.clear()
        self._in_flight.clear()
        if self._owns:
            ray.shutdown()
