"""One run of a graph: streams, bounded input queues, and a pool of worker threads.

All scheduling state (run_state.py) lives under one lock; calculators run outside it on the
workers. This module drives a run: its lifecycle, graph inputs, pollers, the workers, and
what happens when a task completes. When a node can run is readiness.py (MediaPipe's rules;
nodes closer to the outputs are preferred, so finished work drains before new work enters, and
a node only starts when its consumers' queues have room, so memory stays flat however long the
input is); how results and timestamp bounds move downstream is emission.py; deadlock and
stall detection, messages, cleanup after a failure and the profile are diagnosis.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from facepipe.graph.calculator import STOP, CalculatorContext, OutputSet
from facepipe.graph.diagnosis import blocking_queues, close_after_failure, describe_waiting, run_profile
from facepipe.graph.emission import close_stream, emit_all, propagate, push
from facepipe.graph.errors import GraphCancelledError, GraphError
from facepipe.graph.outputs import OutputPoller, callback_spec
from facepipe.graph.packet import Packet, Timestamp, format_timestamp
from facepipe.graph.profiler import RunProfile
from facepipe.graph.readiness import next_task
from facepipe.graph.run_state import (
    CLOSE,
    CLOSED,
    DONE,
    OPEN,
    PROCESS,
    RUNNING,
    Node,
    Queue,
    Result,
    Stream,
    Task,
)
from facepipe.graph.validate import ResolvedGraph

log = logging.getLogger(__name__)

__all__ = ["GraphRun", "OutputPoller"]


class GraphRun:
    """Runtime state of one run. Created and driven by Graph; not used directly."""

    def __init__(
        self,
        resolved: ResolvedGraph,
        side_packets: Mapping[str, Any],
        callbacks: list[tuple[str, Callable[[Packet], Any]]],
        pollers: list[OutputPoller],
        num_workers: int | None,
        max_queue_size: int,
        grow_queues_on_deadlock: bool,
    ) -> None:
        self._lock = threading.Lock()
        self._work_cv = threading.Condition(self._lock)  # workers wait here for tasks
        self._space_cv = threading.Condition(self._lock)  # add_packet waits here for queue room
        self._out_cv = threading.Condition(self._lock)  # pollers wait here for packets
        self._state_cv = threading.Condition(self._lock)  # start()/wait_until_done() wait here
        self._grow = grow_queues_on_deadlock
        self._num_workers = max(1, num_workers or os.cpu_count() or 1)
        self._running = 0
        self._idle = 0
        self._error: GraphError | None = None
        self._failing = False
        self._cleanup_started = False
        self._finished = False
        self._t_start = 0.0
        self._t_end: float | None = None

        self._streams: dict[str, Stream] = {}
        for name in resolved.input_streams:
            self._streams[name] = Stream(name, is_input=True)
        self._inputs_open = set(resolved.input_streams)
        specs = list(resolved.nodes) + [
            callback_spec(stream, fn, i) for i, (stream, fn) in enumerate(callbacks)
        ]
        self._nodes: list[Node] = []
        for index, spec in enumerate(specs):
            node = Node(spec, index, side_packets)
            for tag, name in spec.outputs.items():
                stream = self._streams.setdefault(name, Stream(name, is_input=False))
                node.out_streams[tag] = stream
                node.out_list.append(stream)
            self._nodes.append(node)
        for node in self._nodes:
            for tag, name in node.spec.inputs.items():
                back = tag in node.spec.back_edges
                # A back edge's queue is unbounded: blocking the end of a loop would stall its start.
                limit = None if back else (node.spec.max_queue_size or max_queue_size)
                queue = Queue(self._streams[name], node, tag, limit, back)
                self._streams[name].consumers.append(queue)
                node.queues.append(queue)
                if not back:
                    node.main_queues.append(queue)
        for poller in pollers:
            if poller.stream not in self._streams:
                raise GraphError(f"cannot poll stream {poller.stream!r}: no such stream in the graph")
            queue = Queue(self._streams[poller.stream], None, "poller", poller.max_queue_size, False)
            self._streams[poller.stream].consumers.append(queue)
            poller._attach(self, queue)
        # Downstream first: draining finished work keeps queues short.
        self._by_priority = sorted(self._nodes, key=lambda n: -n.priority)
        self._workers: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the workers and open every node; raises GraphError if an open() fails."""
        self._t_start = time.perf_counter()
        for i in range(self._num_workers):
            t = threading.Thread(target=self._worker, name=f"facepipe-graph-{i}", daemon=True)
            self._workers.append(t)
            t.start()
        with self._lock:
            self._work_cv.notify_all()
            while not self._finished and any(n.state < RUNNING for n in self._nodes):
                self._state_cv.wait()
            if self._error is not None:
                while not self._finished:
                    self._state_cv.wait()
                raise self._error

    def wait(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while not self._finished:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(
                        f"graph did not finish within {timeout} s ({describe_waiting(self._nodes, self._inputs_open)})"
                    )
                # Wake up now and then so that Ctrl-C reaches the main thread.
                self._state_cv.wait(0.5 if remaining is None else min(remaining, 0.5))
            if self._error is not None:
                raise self._error

    @property
    def finished(self) -> bool:
        return self._finished

    def cancel(self) -> None:
        with self._lock:
            if not self._finished:
                self._fail(GraphCancelledError("the graph run was cancelled"))

    # ------------------------------------------------------------------ graph inputs

    def add_packet(self, name: str, packet: Packet, timeout: float | None) -> None:
        stream = self._input_stream(name)
        ts = packet.timestamp
        if not Timestamp.is_data(ts):
            raise ValueError(
                f"graph input {name!r}: timestamp {format_timestamp(ts)} is not a data timestamp"
            )
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._check_input_open(name)
            if ts < stream.bound:
                raise ValueError(
                    f"graph input {name!r}: timestamp {ts} is not after the previous one"
                    f" (next allowed: {format_timestamp(stream.bound)}); timestamps must increase"
                )
            if any(q.full() for q in stream.consumers):
                stream.waiters += 1
                try:
                    self._work_cv.notify()  # let an idle worker check for a deadlock
                    while not self._failing and any(q.full() for q in stream.consumers):
                        remaining = None if deadline is None else deadline - time.monotonic()
                        if remaining is not None and remaining <= 0:
                            raise TimeoutError(f"graph input {name!r}: queue stayed full for {timeout} s")
                        self._space_cv.wait(0.5 if remaining is None else min(remaining, 0.5))
                finally:
                    stream.waiters -= 1
                self._check_input_open(name)
            stream.bound = ts + 1
            push(stream, packet, self._out_cv)
            propagate([q.node for q in stream.consumers if q.node is not None])
            self._work_cv.notify()

    def set_input_bound(self, name: str, ts: int) -> None:
        stream = self._input_stream(name)
        with self._lock:
            self._check_input_open(name)
            if ts > stream.bound:
                stream.bound = min(ts, Timestamp.MAX + 1)
                propagate([q.node for q in stream.consumers if q.node is not None])
                self._work_cv.notify()

    def close_input(self, name: str) -> None:
        stream = self._input_stream(name)
        with self._lock:
            if name not in self._inputs_open:
                return
            self._inputs_open.discard(name)
            close_stream(stream, self._out_cv)
            self._work_cv.notify()
            self._maybe_finish()

    def close_all_inputs(self) -> None:
        for name in list(self._inputs_open):
            self.close_input(name)

    def _input_stream(self, name: str) -> Stream:
        stream = self._streams.get(name)
        if stream is None or not stream.is_input:
            inputs = sorted(s.name for s in self._streams.values() if s.is_input)
            raise KeyError(f"{name!r} is not a graph input stream (inputs: {', '.join(inputs) or 'none'})")
        return stream

    def _check_input_open(self, name: str) -> None:
        if self._error is not None:
            raise self._error
        if name not in self._inputs_open:
            raise ValueError(f"graph input {name!r} is already closed")

    # ------------------------------------------------------------------ pollers

    def _poll(self, queue: Queue, timeout: float | None) -> Packet | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._error is not None:
                    raise self._error
                if queue.packets:
                    packet = queue.packets.popleft()
                    self._work_cv.notify()  # its producer may have been waiting for room
                    return packet
                if queue.stream.bound >= DONE or self._finished:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no packet on {queue.stream.name!r} within {timeout} s")
                self._out_cv.wait(0.5 if remaining is None else min(remaining, 0.5))

    # ------------------------------------------------------------------ workers

    def _worker(self) -> None:
        with self._lock:
            while not self._finished:
                try:
                    self._work_once()
                except Exception as exc:  # a scheduler bug must fail the run, not hang it
                    log.exception("graph scheduler error")
                    err = GraphError(f"internal graph scheduler error: {type(exc).__name__}: {exc}")
                    err.__cause__ = exc
                    self._fail(err)
            self._work_cv.notify_all()

    def _work_once(self) -> None:
        """Pick a task and run it, or wait for one (called with the lock held)."""
        task = self._pick()
        if task is None:
            if self._running == 0 and not self._cleanup_started and self._on_idle():
                return  # something changed: look again
            self._idle += 1
            try:
                self._work_cv.wait()
            finally:
                self._idle -= 1
            return
        self._running += 1
        if self._idle:
            self._work_cv.notify()  # more may be ready; let a sleeping worker look
        self._lock.release()
        try:
            result = self._execute(task)
        finally:
            self._lock.acquire()
            self._running -= 1
        self._complete(task, result)

    def _execute(self, task: Task) -> Result:
        node = task.node
        spec = node.spec
        if task.kind == PROCESS:
            default_ts = task.ts
        elif task.kind == CLOSE:
            default_ts = Timestamp.POST_STREAM
        else:
            default_ts = None
        outputs = OutputSet(node.name, spec.calculator.outputs, node.out_tags, default_ts)
        counters: dict[str, int] = {}
        inputs = task.inputs if task.inputs is not None else dict.fromkeys(spec.inputs)
        ctx = CalculatorContext(
            node.name, spec.options, node.side_values, inputs, outputs, task.ts, counters, bounds=task.bounds,
            call_index=task.seq if task.kind == PROCESS else None,
        )
        ret = None
        error = None
        t0 = time.perf_counter()
        try:
            if task.kind == OPEN:
                calc = spec.calculator()
                node.instances[task.instance] = calc
                calc.open(ctx)
            elif task.kind == PROCESS:
                ret = node.instances[task.instance].process(ctx)  # type: ignore[union-attr]
            else:
                node.instances[task.instance].close(ctx)  # type: ignore[union-attr]
        except BaseException as exc:  # SystemExit in a calculator too: it fails the run, not the worker
            error = exc
        return Result(
            outputs.packets, outputs.bounds, ret is STOP, error, time.perf_counter() - t0, counters
        )

    # ------------------------------------------------------------------ scheduling (under the lock)

    def _pick(self) -> Task | None:
        if self._failing:
            return None
        popped = self._popped
        for node in self._by_priority:
            task = next_task(node, popped)
            if task is not None:
                return task
        return None

    def _popped(self, queue: Queue) -> None:
        if queue.stream.waiters:
            self._space_cv.notify_all()

    def _complete(self, task: Task, result: Result) -> None:
        node = task.node
        stats = node.stats
        if result.counters:
            stats.add_counters(result.counters)
        if result.error is not None:
            if task.kind == PROCESS:
                node.in_flight -= 1
                node.free.append(task.instance)
            elif task.kind == CLOSE:
                node.instance_open[task.instance] = False  # its close() ran (and failed): not again
            self._fail(GraphError.from_node(node.name, node.calc_name, task.kind, task.ts, result.error))
            return
        if task.kind == OPEN:
            stats.open_s += result.seconds
            node.instance_open[task.instance] = True
            node.completed += 1
            self._emit_all(node, result.packets, result.bounds)
            if node.completed == node.n_instances:
                node.state = RUNNING
                node.dispatched = node.completed = 0
                self._state_cv.notify_all()
        elif task.kind == PROCESS:
            stats.add_call(result.seconds)
            node.in_flight -= 1
            node.free.append(task.instance)
            if node.is_source:  # no reordering needed
                self._emit_all(node, result.packets, result.bounds)
                if result.stop:
                    node.stopped = True
            else:
                node.results[task.seq] = result
                while node.emit_seq in node.results:
                    r = node.results.pop(node.emit_seq)
                    del node.pending[node.emit_seq]
                    node.emit_seq += 1
                    if node.stopped:
                        continue  # a call after the one that returned STOP
                    self._emit_all(node, r.packets, r.bounds)
                    if r.stop:
                        node.stopped = True
                propagate([node])
        else:
            stats.close_s += result.seconds
            node.instance_open[task.instance] = False
            node.close_packets[task.instance] = result.packets
            node.completed += 1
            if node.completed == node.n_instances:
                for packets in node.close_packets:
                    self._emit_all(node, packets, {})
                node.close_packets = []
                self._close_node(node)

    def _emit_all(self, node: Node, packets: list[tuple[str, Packet]], bounds: dict[str, int]) -> None:
        if self._failing:
            return
        error = emit_all(node, packets, bounds, self._out_cv)
        if error is not None:
            self._fail(error)

    def _close_node(self, node: Node) -> None:
        node.state = CLOSED
        for q in node.queues:
            q.dead = True
            q.packets.clear()
            if q.stream.waiters:
                self._space_cv.notify_all()
        for stream in node.out_list:
            close_stream(stream, self._out_cv)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if not self._inputs_open and all(n.state == CLOSED for n in self._nodes):
            self._finish()

    def _finish(self) -> None:
        self._finished = True
        self._t_end = time.perf_counter()
        for cv in (self._work_cv, self._space_cv, self._out_cv, self._state_cv):
            cv.notify_all()

    def _fail(self, error: GraphError) -> None:
        if self._error is None:
            self._error = error
            log.debug("graph run failed: %s", error)
        self._failing = True
        for cv in (self._work_cv, self._space_cv, self._out_cv, self._state_cv):
            cv.notify_all()

    # ------------------------------------------------------------------ idle: cleanup, deadlocks, stalls

    def _on_idle(self) -> bool:
        """Nothing runs and nothing is ready: clean up after a failure, or resolve a deadlock.

        Returns whether anything changed.
        """
        if self._finished:
            return False
        if self._failing:
            self._cleanup_started = True
            self._lock.release()
            try:
                close_after_failure(self._nodes, self._error)
            finally:
                self._lock.acquire()
            self._finish()
            return True
        full = blocking_queues(self._nodes, list(self._streams.values()))
        if full is None:
            return False  # a poller is behind: its reader will make room
        if full:
            if not self._grow:
                self._fail(GraphError("graph deadlock: " + describe_waiting(self._nodes, self._inputs_open)))
                return True
            for q in full:
                q.limit = len(q.packets) + 1  # nothing is in flight now
                if not q.grown:
                    q.grown = True
                    log.warning(
                        "graph: queue of stream %r into node %r grown to %d to avoid a deadlock (%s)",
                        q.stream.name,
                        q.node.name if q.node else "poller",
                        q.limit,
                        describe_waiting(self._nodes, self._inputs_open),
                    )
            self._space_cv.notify_all()
            self._work_cv.notify_all()
            return True
        if not self._inputs_open and any(n.state != CLOSED for n in self._nodes):
            self._fail(GraphError("graph stalled: " + describe_waiting(self._nodes, self._inputs_open)))
            return True
        return False

    # ------------------------------------------------------------------ profile

    def profile(self) -> RunProfile:
        with self._lock:
            end = self._t_end if self._t_end is not None else time.perf_counter()
            return run_profile(self._nodes, end - self._t_start, self._num_workers)
