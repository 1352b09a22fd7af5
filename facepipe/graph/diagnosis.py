"""Diagnosis of a run: what it waits for, which full queues block it, cleanup after a failure,
and its profile. Called under the run's lock, except `close_after_failure` (no lock: it runs
calculator code)."""

from __future__ import annotations

import logging

from facepipe.graph.calculator import CalculatorContext, OutputSet
from facepipe.graph.errors import GraphError
from facepipe.graph.packet import Timestamp, format_timestamp
from facepipe.graph.profiler import NodeProfile, RunProfile
from facepipe.graph.readiness import readiness
from facepipe.graph.run_state import CLOSED, DONE, PROCESS, Node, Queue, Stream

log = logging.getLogger("facepipe.graph.scheduler")

__all__ = ["blocking_queues", "close_after_failure", "describe_waiting", "run_profile"]


def blocking_queues(nodes: list[Node], streams: list[Stream]) -> list[Queue] | None:
    """With nothing running and nothing ready: the full queues that hold the run up (nodes
    ready but throttled, graph inputs waiting for room); None when a poller is behind (its
    reader will make room)."""
    throttled = [n for n in nodes if (r := readiness(n)) is not None and r[0] == PROCESS]
    if any(q.node is None and q.full() for n in throttled for s in n.out_list for q in s.consumers):
        return None
    full: list[Queue] = [
        q for n in throttled for s in n.out_list for q in s.consumers if q.full(n.in_flight)
    ]
    full += [q for s in streams if s.waiters for q in s.consumers if q.full()]
    return full


def describe_waiting(nodes: list[Node], inputs_open: set[str]) -> str:
    """What the unfinished nodes wait for (deadlock, stall and timeout messages)."""
    parts = []
    for node in nodes:
        if node.state == CLOSED:
            continue
        waiting = [
            f"{q.stream.name!r} (bound {format_timestamp(q.stream.bound)})"
            for q in node.queues
            if not q.packets and q.stream.bound < DONE
        ]
        queued = sum(len(q.packets) for q in node.queues)
        if queued:
            parts.append(
                f"node {node.name!r} has {queued} queued packet(s) and waits on "
                f"{', '.join(waiting) or 'nothing'}"
            )
    if len(parts) > 6:
        parts[6:] = [f"{len(parts) - 6} more"]
    open_inputs = sorted(inputs_open)
    if open_inputs:
        parts.append(f"open graph inputs: {', '.join(open_inputs)}")
    return "; ".join(parts) or "no packet is queued"


def close_after_failure(nodes: list[Node], error: GraphError | None) -> None:
    """Give every opened calculator its close(), with ctx.graph_error set, so it can release resources."""
    for node in nodes:
        for i, calc in enumerate(node.instances):
            if calc is None or not node.instance_open[i]:
                continue
            node.instance_open[i] = False
            outputs = OutputSet(
                node.name, node.spec.calculator.outputs, node.out_tags, Timestamp.POST_STREAM
            )
            ctx = CalculatorContext(
                node.name,
                node.spec.options,
                node.side_values,
                dict.fromkeys(node.spec.inputs),
                outputs,
                None,
                {},
                error,
            )
            try:
                calc.close(ctx)
            except Exception as exc:  # the first error is the one reported
                log.warning(
                    "node %r: close() after a failed run raised %s: %s",
                    node.name,
                    type(exc).__name__,
                    exc,
                )


def run_profile(nodes: list[Node], elapsed: float, num_workers: int) -> RunProfile:
    """Per-node calls, times and queue depths of a run."""
    profiles = []
    for node in nodes:
        s = node.stats
        limits = [q.limit for q in node.queues if not q.back_edge]
        profiles.append(
            NodeProfile(
                name=node.name,
                calculator=node.calc_name,
                calls=s.calls,
                total_s=s.total_s,
                mean_s=s.total_s / s.calls if s.calls else 0.0,
                max_s=s.max_s,
                open_s=s.open_s,
                close_s=s.close_s,
                max_queue=max((q.max_depth for q in node.queues), default=0),
                queue_limit=max((x for x in limits if x is not None), default=None),
                max_in_flight=node.slots,
                counters=dict(s.counters),
            )
        )
    return RunProfile(tuple(profiles), elapsed, num_workers)
