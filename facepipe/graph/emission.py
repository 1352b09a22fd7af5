"""Emission: a call's packets onto its output streams, and timestamp bounds moving downstream.

Called under the run's lock; `out_cv` is the condition pollers wait on.
"""

from __future__ import annotations

from threading import Condition

from facepipe.graph.errors import GraphError
from facepipe.graph.packet import Packet, Timestamp, format_timestamp
from facepipe.graph.run_state import CLOSING, DONE, Node, Stream

__all__ = ["close_stream", "emit_all", "propagate", "push"]


def emit_all(node: Node, packets: list[tuple[str, Packet]], bounds: dict[str, int], out_cv: Condition
             ) -> GraphError | None:
    """Put a call's packets on `node`'s output streams and raise their bounds; the error (nothing
    more is emitted) when a packet's timestamp is out of order."""
    changed: list[Node] = []
    for tag, packet in packets:
        stream = node.out_streams[tag]
        ts = packet.timestamp
        if ts < stream.bound or not Timestamp.PRE_STREAM <= ts <= Timestamp.POST_STREAM:
            why = (
                "timestamps on a stream must increase; the next allowed is "
                f"{format_timestamp(stream.bound)}"
                if ts < stream.bound
                else "that is not a packet timestamp"
            )
            err = GraphError(
                f"node {node.name!r} ({node.calc_name}) emitted a packet at timestamp"
                f" {format_timestamp(ts)} on stream {stream.name!r} ({tag}): {why}",
                node=node.name,
                phase="emit",
                timestamp=ts,
            )
            return err
        stream.bound = ts + 1
        push(stream, packet, out_cv)
        changed.extend(q.node for q in stream.consumers if q.node is not None)
    for tag, bound in bounds.items():
        stream = node.out_streams[tag]
        if bound > stream.bound:
            stream.bound = min(bound, DONE)
            changed.extend(q.node for q in stream.consumers if q.node is not None)
    if changed:
        propagate(changed)
    return None


def push(stream: Stream, packet: Packet, out_cv: Condition) -> None:
    for q in stream.consumers:
        if q.dead:
            continue
        q.packets.append(packet)
        if len(q.packets) > q.max_depth:
            q.max_depth = len(q.packets)
        if q.node is None:
            out_cv.notify_all()


def propagate(nodes: list[Node]) -> None:
    """Advance output bounds of auto-bounds nodes whose inputs moved on, transitively.

    A node's outputs cannot get packets below the smallest timestamp it may still process
    (its queued packets, the bounds of its empty inputs, and its calls in flight).
    """
    work = nodes
    while work:
        node = work.pop()
        if not node.auto_bounds or node.is_source or node.state >= CLOSING or node.stopped:
            continue
        bound = min(q.next_ts() for q in node.queues)
        if bound > Timestamp.POST_STREAM:
            bound = Timestamp.POST_STREAM  # close() may still emit a POST_STREAM packet
        if node.pending:
            bound = min(bound, min(node.pending.values()))
        for stream in node.out_list:
            if bound > stream.bound:
                stream.bound = bound
                work.extend(q.node for q in stream.consumers if q.node is not None)


def close_stream(stream: Stream, out_cv: Condition) -> None:
    stream.bound = DONE
    out_cv.notify_all()
    propagate([q.node for q in stream.consumers if q.node is not None])
