"""The state one graph run schedules over: streams, input queues, nodes, tasks and their results.

Plain records, read and changed only under the run's lock (see scheduler.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from facepipe.graph.calculator import IMMEDIATE, Calculator
from facepipe.graph.packet import Packet, Timestamp
from facepipe.graph.profiler import NodeStats
from facepipe.graph.validate import NodeSpec

DONE = Timestamp.DONE
# Task kinds, and a node's life: NEW -> OPENING -> RUNNING -> CLOSING -> CLOSED.
OPEN, PROCESS, CLOSE = "open", "process", "close"
NEW, OPENING, RUNNING, CLOSING, CLOSED = range(5)

__all__ = ["Node", "Queue", "Result", "Stream", "Task"]


class Stream:
    __slots__ = ("name", "bound", "consumers", "waiters", "is_input")

    def __init__(self, name: str, is_input: bool) -> None:
        self.name = name
        self.bound = Timestamp.UNSTARTED  # smallest timestamp the next packet may have
        self.consumers: list[Queue] = []
        self.waiters = 0  # add_packet calls blocked on a full consumer queue
        self.is_input = is_input


class Queue:
    """A node's (or a poller's) input queue on one stream."""

    __slots__ = (
        "stream",
        "node",
        "tag",
        "packets",
        "limit",
        "back_edge",
        "max_depth",
        "dead",
        "grown",
        "seen_bound",
    )

    def __init__(
        self, stream: Stream, node: Node | None, tag: str, limit: int | None, back_edge: bool
    ) -> None:
        self.stream = stream
        self.node = node  # None for a poller
        self.tag = tag
        self.packets: deque[Packet] = deque()
        self.limit = limit
        self.back_edge = back_edge
        self.max_depth = 0
        self.dead = False  # consumer closed: drop packets
        self.grown = False
        self.seen_bound = Timestamp.UNSTARTED  # bound last reported to a process_bounds calculator

    def full(self, extra: int = 0) -> bool:
        return self.limit is not None and not self.dead and len(self.packets) + extra >= self.limit

    def next_ts(self) -> int:
        return self.packets[0].timestamp if self.packets else self.stream.bound


class Node:
    def __init__(self, spec: NodeSpec, priority: int, side_packets: Mapping[str, Any]) -> None:
        self.spec = spec
        self.name = spec.name
        self.calc_name = spec.calculator.__name__
        self.priority = priority
        self.side_values = {
            tag: side_packets[name] for tag, name in spec.side_packets.items() if name in side_packets
        }
        self.queues: list[Queue] = []
        self.main_queues: list[Queue] = []  # not back edges: these decide when the node is done
        self.out_streams: dict[str, Stream] = {}
        self.out_list: list[Stream] = []
        self.out_tags = frozenset(spec.outputs)
        self.is_source = not spec.inputs
        self.immediate = spec.input_policy == IMMEDIATE
        self.auto_bounds = spec.calculator.auto_bounds
        self.process_bounds = self.immediate and spec.calculator.process_bounds
        n = 1 if spec.calculator.reentrant else spec.max_in_flight
        self.n_instances = n
        self.instances: list[Calculator | None] = [None] * n
        self.instance_open = [False] * n
        self.free: list[int] = list(range(n))
        self.slots = spec.max_in_flight
        self.state = NEW
        self.dispatched = 0  # open or close tasks handed out in the current phase
        self.completed = 0
        self.close_packets: list[list[tuple[str, Packet]]] = [[] for _ in range(n)]
        self.in_flight = 0
        self.next_seq = 0
        self.emit_seq = 0
        self.pending: dict[int, int] = {}  # seq -> timestamp, dispatched but not yet emitted
        self.results: dict[int, Result] = {}
        self.stopped = False
        self.stats = NodeStats()


class Task:
    __slots__ = ("node", "kind", "seq", "ts", "inputs", "instance", "bounds")

    def __init__(
        self,
        node: Node,
        kind: str,
        instance: int,
        seq: int = -1,
        ts: int | None = None,
        inputs: dict[str, Packet | None] | None = None,
        bounds: dict[str, int] | None = None,
    ) -> None:
        self.bounds = bounds
        self.node = node
        self.kind = kind
        self.instance = instance
        self.seq = seq
        self.ts = ts
        self.inputs = inputs


class Result:
    __slots__ = ("packets", "bounds", "stop", "error", "seconds", "counters")

    def __init__(self, packets, bounds, stop, error, seconds, counters) -> None:
        self.packets: list[tuple[str, Packet]] = packets
        self.bounds: dict[str, int] = bounds
        self.stop: bool = stop
        self.error: BaseException | None = error
        self.seconds: float = seconds
        self.counters: dict[str, int] = counters
