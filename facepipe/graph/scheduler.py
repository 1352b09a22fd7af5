"""One run of a graph: streams, bounded input queues, and a pool of worker threads.

All scheduling state lives under one lock; calculators run outside it on the
workers. Readiness follows MediaPipe's rules: every stream has a timestamp
bound (the smallest timestamp its next packet may have); a DEFAULT-policy node
runs at timestamp T once every input has either a packet at T or a bound past
T. Nodes closer to the outputs are preferred, so finished work drains before
new work enters, and a node only starts when its consumers' queues have room
(back-pressure), so memory stays flat however long the input is.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from facepipe.graph.calculator import IMMEDIATE, STOP, Calculator, CalculatorContext, OutputSet
from facepipe.graph.errors import GraphCancelledError, GraphError
from facepipe.graph.packet import Packet, Timestamp, format_timestamp
from facepipe.graph.profiler import NodeProfile, NodeStats, RunProfile
from facepipe.graph.validate import NodeSpec, ResolvedGraph

log = logging.getLogger(__name__)

__all__ = ["GraphRun", "OutputPoller"]

_DONE = Timestamp.DONE
_OPEN, _PROCESS, _CLOSE = "open", "process", "close"
_NEW, _OPENING, _RUNNING, _CLOSING, _CLOSED = range(5)


class _Stream:
    __slots__ = ("name", "bound", "consumers", "waiters", "is_input")

    def __init__(self, name: str, is_input: bool) -> None:
        self.name = name
        self.bound = Timestamp.UNSTARTED  # smallest timestamp the next packet may have
        self.consumers: list[_Queue] = []
        self.waiters = 0  # add_packet calls blocked on a full consumer queue
        self.is_input = is_input


class _Queue:
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
        self, stream: _Stream, node: _Node | None, tag: str, limit: int | None, back_edge: bool
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


class _Node:
    def __init__(self, spec: NodeSpec, priority: int, side_packets: Mapping[str, Any]) -> None:
        self.spec = spec
        self.name = spec.name
        self.calc_name = spec.calculator.__name__
        self.priority = priority
        self.side_values = {
            tag: side_packets[name] for tag, name in spec.side_packets.items() if name in side_packets
        }
        self.queues: list[_Queue] = []
        self.main_queues: list[_Queue] = []  # not back edges: these decide when the node is done
        self.out_streams: dict[str, _Stream] = {}
        self.out_list: list[_Stream] = []
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
        self.state = _NEW
        self.dispatched = 0  # open or close tasks handed out in the current phase
        self.completed = 0
        self.close_packets: list[list[tuple[str, Packet]]] = [[] for _ in range(n)]
        self.in_flight = 0
        self.next_seq = 0
        self.emit_seq = 0
        self.pending: dict[int, int] = {}  # seq -> timestamp, dispatched but not yet emitted
        self.results: dict[int, _Result] = {}
        self.stopped = False
        self.stats = NodeStats()


class _Task:
    __slots__ = ("node", "kind", "seq", "ts", "inputs", "instance", "bounds")

    def __init__(
        self,
        node: _Node,
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


class _Result:
    __slots__ = ("packets", "bounds", "stop", "error", "seconds", "counters")

    def __init__(self, packets, bounds, stop, error, seconds, counters) -> None:
        self.packets: list[tuple[str, Packet]] = packets
        self.bounds: dict[str, int] = bounds
        self.stop: bool = stop
        self.error: BaseException | None = error
        self.seconds: float = seconds
        self.counters: dict[str, int] = counters


class OutputPoller:
    """Iterate over the packets of one output stream: `for packet in poller: ...`.

    Iteration ends when the stream is done and raises the run's GraphError if it failed.
    With max_queue_size set, a reader that falls behind throttles the graph instead of
    letting packets pile up.
    """

    def __init__(self, stream: str, max_queue_size: int | None = None) -> None:
        self.stream = stream
        self.max_queue_size = max_queue_size
        self._run: GraphRun | None = None
        self._queue: _Queue | None = None

    def _attach(self, run: GraphRun, queue: _Queue) -> None:
        self._run, self._queue = run, queue

    def get(self, timeout: float | None = None) -> Packet | None:
        """The next packet; None once the stream is done. TimeoutError if none came in time."""
        if self._run is None or self._queue is None:
            raise RuntimeError(f"poller on {self.stream!r}: the graph has not been started")
        return self._run._poll(self._queue, timeout)

    def __iter__(self):
        while True:
            packet = self.get()
            if packet is None:
                return
            yield packet


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

        self._streams: dict[str, _Stream] = {}
        for name in resolved.input_streams:
            self._streams[name] = _Stream(name, is_input=True)
        self._inputs_open = set(resolved.input_streams)
        specs = list(resolved.nodes) + [
            _callback_spec(stream, fn, i) for i, (stream, fn) in enumerate(callbacks)
        ]
        self._nodes: list[_Node] = []
        for index, spec in enumerate(specs):
            node = _Node(spec, index, side_packets)
            for tag, name in spec.outputs.items():
                stream = self._streams.setdefault(name, _Stream(name, is_input=False))
                node.out_streams[tag] = stream
                node.out_list.append(stream)
            self._nodes.append(node)
        for node in self._nodes:
            for tag, name in node.spec.inputs.items():
                back = tag in node.spec.back_edges
                # A back edge's queue is unbounded: blocking the end of a loop would stall its start.
                limit = None if back else (node.spec.max_queue_size or max_queue_size)
                queue = _Queue(self._streams[name], node, tag, limit, back)
                self._streams[name].consumers.append(queue)
                node.queues.append(queue)
                if not back:
                    node.main_queues.append(queue)
        for poller in pollers:
            if poller.stream not in self._streams:
                raise GraphError(f"cannot poll stream {poller.stream!r}: no such stream in the graph")
            queue = _Queue(self._streams[poller.stream], None, "poller", poller.max_queue_size, False)
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
            while not self._finished and any(n.state < _RUNNING for n in self._nodes):
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
                        f"graph did not finish within {timeout} s ({self._describe_waiting()})"
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
            self._push(stream, packet)
            self._propagate([q.node for q in stream.consumers if q.node is not None])
            self._work_cv.notify()

    def set_input_bound(self, name: str, ts: int) -> None:
        stream = self._input_stream(name)
        with self._lock:
            self._check_input_open(name)
            if ts > stream.bound:
                stream.bound = min(ts, Timestamp.MAX + 1)
                self._propagate([q.node for q in stream.consumers if q.node is not None])
                self._work_cv.notify()

    def close_input(self, name: str) -> None:
        stream = self._input_stream(name)
        with self._lock:
            if name not in self._inputs_open:
                return
            self._inputs_open.discard(name)
            self._close_stream(stream)
            self._work_cv.notify()
            self._maybe_finish()

    def close_all_inputs(self) -> None:
        for name in list(self._inputs_open):
            self.close_input(name)

    def _input_stream(self, name: str) -> _Stream:
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

    def _poll(self, queue: _Queue, timeout: float | None) -> Packet | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while True:
                if self._error is not None:
                    raise self._error
                if queue.packets:
                    packet = queue.packets.popleft()
                    self._work_cv.notify()  # its producer may have been waiting for room
                    return packet
                if queue.stream.bound >= _DONE or self._finished:
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

    def _execute(self, task: _Task) -> _Result:
        node = task.node
        spec = node.spec
        if task.kind == _PROCESS:
            default_ts = task.ts
        elif task.kind == _CLOSE:
            default_ts = Timestamp.POST_STREAM
        else:
            default_ts = None
        outputs = OutputSet(node.name, spec.calculator.outputs, node.out_tags, default_ts)
        counters: dict[str, int] = {}
        inputs = task.inputs if task.inputs is not None else dict.fromkeys(spec.inputs)
        ctx = CalculatorContext(
            node.name, spec.options, node.side_values, inputs, outputs, task.ts, counters, bounds=task.bounds,
            call_index=task.seq if task.kind == _PROCESS else None,
        )
        ret = None
        error = None
        t0 = time.perf_counter()
        try:
            if task.kind == _OPEN:
                calc = spec.calculator()
                node.instances[task.instance] = calc
                calc.open(ctx)
            elif task.kind == _PROCESS:
                ret = node.instances[task.instance].process(ctx)  # type: ignore[union-attr]
            else:
                node.instances[task.instance].close(ctx)  # type: ignore[union-attr]
        except BaseException as exc:  # SystemExit in a calculator too: it fails the run, not the worker
            error = exc
        return _Result(
            outputs.packets, outputs.bounds, ret is STOP, error, time.perf_counter() - t0, counters
        )

    # ------------------------------------------------------------------ scheduling (under the lock)

    def _pick(self) -> _Task | None:
        if self._failing:
            return None
        for node in self._by_priority:
            task = self._task_for(node)
            if task is not None:
                return task
        return None

    def _readiness(self, node: _Node) -> tuple[str, Any] | None:
        """What `node` could do now, ignoring back-pressure: (kind, queue-or-timestamp) or None."""
        state = node.state
        if state in (_NEW, _OPENING):
            return (_OPEN, None) if node.dispatched < node.n_instances else None
        if state == _CLOSING:
            return (_CLOSE, None) if node.dispatched < node.n_instances else None
        if state != _RUNNING or not node.free:
            return None
        if node.stopped or (
            not node.is_source and all(q.stream.bound >= _DONE and not q.packets for q in node.main_queues)
        ):
            return (_CLOSE, None) if node.in_flight == 0 else None
        if node.is_source:
            return _PROCESS, None
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
                return _PROCESS, best
            if node.process_bounds and any(q.stream.bound > q.seen_bound for q in node.queues):
                return _PROCESS, None
            return None
        ts = min(q.next_ts() for q in node.queues)
        have = False
        for q in node.queues:
            if q.packets:
                if q.packets[0].timestamp == ts:
                    have = True
            elif q.stream.bound <= ts:
                return None  # a packet at ts may still arrive on this stream
        return (_PROCESS, ts) if have else None

    def _throttled(self, node: _Node) -> bool:
        extra = node.in_flight  # each running call may still add a packet
        for stream in node.out_list:
            for q in stream.consumers:
                if q.full(extra):
                    return True
        return False

    def _task_for(self, node: _Node) -> _Task | None:
        ready = self._readiness(node)
        if ready is None:
            return None
        kind, what = ready
        if kind == _OPEN:
            if node.state == _NEW:
                node.state = _OPENING
            node.dispatched += 1
            return _Task(node, _OPEN, node.dispatched - 1)
        if kind == _CLOSE:
            if node.state == _RUNNING:
                node.state = _CLOSING
                node.dispatched = node.completed = 0
            node.dispatched += 1
            return _Task(node, _CLOSE, node.dispatched - 1)
        if self._throttled(node):
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
                self._popped(what)
        else:
            ts = what
            inputs = dict.fromkeys(node.spec.inputs)
            for q in node.queues:
                if q.packets and q.packets[0].timestamp == ts:
                    inputs[q.tag] = q.packets.popleft()
                    self._popped(q)
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
        return _Task(node, _PROCESS, node.free.pop(), seq, ts, inputs, bounds)

    def _popped(self, queue: _Queue) -> None:
        if queue.stream.waiters:
            self._space_cv.notify_all()

    def _complete(self, task: _Task, result: _Result) -> None:
        node = task.node
        stats = node.stats
        if result.counters:
            stats.add_counters(result.counters)
        if result.error is not None:
            if task.kind == _PROCESS:
                node.in_flight -= 1
                node.free.append(task.instance)
            elif task.kind == _CLOSE:
                node.instance_open[task.instance] = False  # its close() ran (and failed): not again
            self._fail(GraphError.from_node(node.name, node.calc_name, task.kind, task.ts, result.error))
            return
        if task.kind == _OPEN:
            stats.open_s += result.seconds
            node.instance_open[task.instance] = True
            node.completed += 1
            self._emit_all(node, result.packets, result.bounds)
            if node.completed == node.n_instances:
                node.state = _RUNNING
                node.dispatched = node.completed = 0
                self._state_cv.notify_all()
        elif task.kind == _PROCESS:
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
                self._propagate([node])
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

    def _emit_all(self, node: _Node, packets: list[tuple[str, Packet]], bounds: dict[str, int]) -> None:
        if self._failing:
            return
        changed: list[_Node] = []
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
                self._fail(err)
                return
            stream.bound = ts + 1
            self._push(stream, packet)
            changed.extend(q.node for q in stream.consumers if q.node is not None)
        for tag, bound in bounds.items():
            stream = node.out_streams[tag]
            if bound > stream.bound:
                stream.bound = min(bound, _DONE)
                changed.extend(q.node for q in stream.consumers if q.node is not None)
        if changed:
            self._propagate(changed)

    def _push(self, stream: _Stream, packet: Packet) -> None:
        for q in stream.consumers:
            if q.dead:
                continue
            q.packets.append(packet)
            if len(q.packets) > q.max_depth:
                q.max_depth = len(q.packets)
            if q.node is None:
                self._out_cv.notify_all()

    def _propagate(self, nodes: list[_Node]) -> None:
        """Advance output bounds of auto-bounds nodes whose inputs moved on, transitively.

        A node's outputs cannot get packets below the smallest timestamp it may still process
        (its queued packets, the bounds of its empty inputs, and its calls in flight).
        """
        work = nodes
        while work:
            node = work.pop()
            if not node.auto_bounds or node.is_source or node.state >= _CLOSING or node.stopped:
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

    def _close_stream(self, stream: _Stream) -> None:
        stream.bound = _DONE
        self._out_cv.notify_all()
        self._propagate([q.node for q in stream.consumers if q.node is not None])

    def _close_node(self, node: _Node) -> None:
        node.state = _CLOSED
        for q in node.queues:
            q.dead = True
            q.packets.clear()
            if q.stream.waiters:
                self._space_cv.notify_all()
        for stream in node.out_list:
            self._close_stream(stream)
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if not self._inputs_open and all(n.state == _CLOSED for n in self._nodes):
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
                self._close_after_failure()
            finally:
                self._lock.acquire()
            self._finish()
            return True
        throttled = [n for n in self._nodes if (r := self._readiness(n)) is not None and r[0] == _PROCESS]
        if any(q.node is None and q.full() for n in throttled for s in n.out_list for q in s.consumers):
            return False  # a poller is behind: its reader will make room
        full: list[_Queue] = [
            q for n in throttled for s in n.out_list for q in s.consumers if q.full(n.in_flight)
        ]
        full += [q for s in self._streams.values() if s.waiters for q in s.consumers if q.full()]
        if full:
            if not self._grow:
                self._fail(GraphError("graph deadlock: " + self._describe_waiting()))
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
                        self._describe_waiting(),
                    )
            self._space_cv.notify_all()
            self._work_cv.notify_all()
            return True
        if not self._inputs_open and any(n.state != _CLOSED for n in self._nodes):
            self._fail(GraphError("graph stalled: " + self._describe_waiting()))
            return True
        return False

    def _describe_waiting(self) -> str:
        parts = []
        for node in self._nodes:
            if node.state == _CLOSED:
                continue
            waiting = [
                f"{q.stream.name!r} (bound {format_timestamp(q.stream.bound)})"
                for q in node.queues
                if not q.packets and q.stream.bound < _DONE
            ]
            queued = sum(len(q.packets) for q in node.queues)
            if queued:
                parts.append(
                    f"node {node.name!r} has {queued} queued packet(s) and waits on "
                    f"{', '.join(waiting) or 'nothing'}"
                )
        if len(parts) > 6:
            parts[6:] = [f"{len(parts) - 6} more"]
        open_inputs = sorted(self._inputs_open)
        if open_inputs:
            parts.append(f"open graph inputs: {', '.join(open_inputs)}")
        return "; ".join(parts) or "no packet is queued"

    def _close_after_failure(self) -> None:
        """Give every opened calculator its close(), with ctx.graph_error set, so it can release resources."""
        for node in self._nodes:
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
                    self._error,
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

    # ------------------------------------------------------------------ profile

    def profile(self) -> RunProfile:
        with self._lock:
            end = self._t_end if self._t_end is not None else time.perf_counter()
            nodes = []
            for node in self._nodes:
                s = node.stats
                limits = [q.limit for q in node.queues if not q.back_edge]
                nodes.append(
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
            return RunProfile(tuple(nodes), end - self._t_start, self._num_workers)


class _CallbackCalculator(Calculator):
    """Calls a user function for every packet of a stream (in timestamp order, one at a time)."""

    inputs = ("IN",)

    def process(self, ctx: CalculatorContext) -> None:
        ctx.options.callback(ctx.inputs["IN"])


class _CallbackOptions:
    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[Packet], Any]) -> None:
        self.callback = callback


def _callback_spec(stream: str, fn: Callable[[Packet], Any], index: int) -> NodeSpec:
    return NodeSpec(
        name=f"callback:{stream}" + (f"#{index}" if index else ""),
        calculator=_CallbackCalculator,
        options=_CallbackOptions(fn),
        inputs={"IN": stream},
        outputs={},
        side_packets={},
        back_edges=frozenset(),
        input_policy="default",
        max_in_flight=1,
        max_queue_size=None,
    )
