"""When a node can run (MediaPipe's readiness rules) and the task it runs then.

Every stream has a timestamp bound (the smallest timestamp its next packet may have); a
DEFAULT-policy node runs at timestamp T once every input has either a packet at T or a bound
past T; an IMMEDIATE node takes the earliest packet of any input. A node only starts a call
when its consumers' queues have room for what its calls in flight may still add
(back-pressure). Called under the run's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from facepipe.graph.packet import Packet, Timestamp
from facepipe.graph.run_state import (
    CLOSE,
    CLOSING,
    DONE,
    NEW,
    OPEN,
    OPENING,
    PROCESS,
    RUNNING,
    Node,
    Queue,
    Task,
)

__all__ = ["next_task", "readiness", "throttled"]


def readiness(node: Node) -> tuple[str, Any] | None:
    """What `node` could do now, ignoring back-pressure: (kind, queue-or-timestamp) or None."""
    state = node.state
    if state in (NEW, OPENING):
        return (OPEN, None) if node.dispatched < node.n_instances else None
    if state == CLOSING:
        return (CLOSE, None) if node.dispatched < node.n_instances else None
    if state != RUNNING or not node.free:
        return None
    if node.stopped or (
        not node.is_source and all(q.stream.bound >= DONE and not q.packets for q in node.main_queues)
    ):
        return (CLOSE, None) if node.in_flight == 0 else None
    if node.is_source:
        return PROCESS, None
    if node.immediate:
        best = None
        for q in node.queues:
            if q.packets and (
                best is None
                or (q.packets[0].timestamp, not q.back_edge)
                < (best.packets[0].timestamp, not best.back_edge)
            ):
                best = q
        if best is not None:
            return PROCESS, best
        if node.process_bounds and any(q.stream.bound > q.seen_bound for q in node.queues):
            return PROCESS, None
        return None
    ts = min(q.next_ts() for q in node.queues)
    have = False
    for q in node.queues:
        if q.packets:
            if q.packets[0].timestamp == ts:
                have = True
        elif q.stream.bound <= ts:
            return None  # a packet at ts may still arrive on this stream
    return (PROCESS, ts) if have else None


def throttled(node: Node) -> bool:
    extra = node.in_flight  # each running call may still add a packet
    for stream in node.out_list:
        for q in stream.consumers:
            if q.full(extra):
                return True
    return False


def next_task(node: Node, popped: Callable[[Queue], None]) -> Task | None:
    """The task `node` can start now (state updated as dispatched), or None; `popped(queue)` is
    called for each input queue a packet was taken from."""
    ready = readiness(node)
    if ready is None:
        return None
    kind, what = ready
    if kind == OPEN:
        if node.state == NEW:
            node.state = OPENING
        node.dispatched += 1
        return Task(node, OPEN, node.dispatched - 1)
    if kind == CLOSE:
        if node.state == RUNNING:
            node.state = CLOSING
            node.dispatched = node.completed = 0
        node.dispatched += 1
        return Task(node, CLOSE, node.dispatched - 1)
    if throttled(node):
        return None
    if node.is_source:
        ts = None
        inputs: dict[str, Packet | None] = {}
    elif node.immediate:
        inputs = dict.fromkeys(node.spec.inputs)
        ts = None
        if what is not None:
            packet = what.packets.popleft()
            ts = packet.timestamp
            inputs[what.tag] = packet
            popped(what)
    else:
        ts = what
        inputs = dict.fromkeys(node.spec.inputs)
        for q in node.queues:
            if q.packets and q.packets[0].timestamp == ts:
                inputs[q.tag] = q.packets.popleft()
                popped(q)
    bounds = None
    if node.process_bounds:
        bounds = {}
        for q in node.queues:
            q.seen_bound = bounds[q.tag] = q.next_ts()
    seq = node.next_seq
    node.next_seq += 1
    if not node.is_source:  # sources emit directly, without reordering
        node.pending[seq] = Timestamp.MAX if ts is None else ts
    node.in_flight += 1
    return Task(node, PROCESS, node.free.pop(), seq, ts, inputs, bounds)
