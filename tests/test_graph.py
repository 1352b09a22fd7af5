"""Graph framework: running semantics (ordering, alignment, errors, sources, pollers).

Every wait has a timeout, so a scheduler deadlock fails the test instead of hanging it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from facepipe.graph import (
    IMMEDIATE,
    STOP,
    Calculator,
    FunctionCalculator,
    FunctionOptions,
    GraphBuilder,
    GraphCancelledError,
    GraphError,
    Packet,
    Timestamp,
)

TIMEOUT = 20.0


class Scale(Calculator):
    inputs = ("IN",)
    outputs = ("OUT",)

    @dataclass(frozen=True)
    class Options:
        factor: float = 2.0
        delay_s: float = 0.0

    def process(self, ctx):
        if ctx.options.delay_s:
            time.sleep(ctx.options.delay_s)
        ctx.outputs.add("OUT", ctx.input("IN") * ctx.options.factor)


class Pair(Calculator):
    """Timestamp-aligned join: emits (a, b) with None for a stream that has no packet at this timestamp."""

    inputs = ("A", "B")
    outputs = ("OUT",)

    def process(self, ctx):
        ctx.outputs.add("OUT", (ctx.input("A"), ctx.input("B")))


class EveryThird(Calculator):
    """Emits only at timestamps divisible by 3: a stream with gaps."""

    inputs = ("IN",)
    outputs = ("OUT",)

    def process(self, ctx):
        if ctx.timestamp % 3 == 0:
            ctx.outputs.add("OUT", ctx.input("IN"))


class Counter(Calculator):
    """A source: emits 0..n-1 at timestamps 0, 10, 20..., then STOP."""

    outputs = ("OUT",)

    @dataclass(frozen=True)
    class Options:
        n: int = 5

    def open(self, ctx):
        self.i = 0

    def process(self, ctx):
        if self.i >= ctx.options.n:
            return STOP
        ctx.outputs.add("OUT", self.i, timestamp=10 * self.i)
        self.i += 1
        return None


def packets(n, step=1, start=0):
    return [Packet(i, start + i * step) for i in range(n)]


def test_fan_out_fan_in_keeps_pairs_aligned():
    # x -> (slow x3, fast x2) -> join: the branches finish at different times, the join must still pair
    # the values of the same timestamp.
    b = GraphBuilder(num_workers=3)
    b.input_stream("x")
    b.add_node(Scale, name="slow", inputs="x", outputs="y", options={"factor": 3, "delay_s": 0.002})
    b.add_node(Scale, name="fast", inputs="x", outputs="z", options={"factor": 2})
    b.add_node(Pair, inputs={"A": "y", "B": "z"}, outputs={"OUT": "pairs"})
    graph = b.build()
    out = graph.run({"x": packets(40)}, collect=["pairs", "y"], timeout=TIMEOUT)
    assert [p.timestamp for p in out["pairs"]] == list(range(40))
    assert [p.payload for p in out["pairs"]] == [(3 * i, 2 * i) for i in range(40)]
    assert [p.payload for p in out["y"]] == [3 * i for i in range(40)]
    prof = graph.profile()
    assert prof.node("slow").calls == prof.node("fast").calls == prof.node("Pair").calls == 40


def test_two_graph_inputs_with_gaps_align_by_timestamp():
    b = GraphBuilder()
    b.input_stream("a")
    b.input_stream("b")
    b.add_node(Pair, inputs={"A": "a", "B": "b"}, outputs={"OUT": "pairs"})
    graph = b.build()
    a = packets(10)
    b_pk = [Packet(f"b{t}", t) for t in range(0, 10, 2)]  # b has packets at even timestamps only
    out = graph.run({"a": a, "b": b_pk}, collect=["pairs"], timeout=TIMEOUT)
    assert [p.timestamp for p in out["pairs"]] == list(range(10))
    assert [p.payload for p in out["pairs"]] == [(t, f"b{t}" if t % 2 == 0 else None) for t in range(10)]


def test_internal_stream_with_gaps_does_not_block_the_join():
    # EveryThird emits nothing at most timestamps; its output bound still advances, so the join
    # runs at every timestamp (and the last ones do not wait for the end of the stream).
    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(EveryThird, inputs="x", outputs="sparse")
    b.add_node(Pair, inputs={"A": "x", "B": "sparse"}, outputs={"OUT": "pairs"})
    graph = b.build()
    seen = []
    got_first_four = threading.Event()

    def on_pair(p):
        seen.append((p.timestamp, p.payload))
        if len(seen) == 4:
            got_first_four.set()

    graph.observe_output("pairs", on_pair)
    graph.start()
    for t in range(4):
        graph.add_packet("x", t * 100, timestamp=t, timeout=TIMEOUT)
    # Inputs still open: all four timestamps must have been joined already.
    assert got_first_four.wait(TIMEOUT), seen
    graph.close(timeout=TIMEOUT)
    assert seen == [(0, (0, 0)), (1, (100, None)), (2, (200, None)), (3, (300, 300))]


def test_source_node_stop_and_poller():
    b = GraphBuilder()
    b.add_node(Counter, outputs="n", options={"n": 7})
    b.add_node(Scale, inputs="n", outputs="m", options={"factor": 10})
    graph = b.build()
    poller = graph.poller("m")
    graph.start()
    got = [(p.timestamp, p.payload) for p in poller]
    graph.wait_until_done(TIMEOUT)
    assert got == [(10 * i, 10 * i) for i in range(7)]


def test_immediate_policy_sees_each_packet_alone_in_arrival_order():
    class Log(Calculator):
        inputs = ("A", "B")
        outputs = ("OUT",)
        input_policy = IMMEDIATE
        auto_bounds = False

        def process(self, ctx):
            present = [t for t, p in ctx.inputs.items() if p is not None]
            ctx.outputs.add("OUT", (present, ctx.timestamp))

    b = GraphBuilder()
    b.input_stream("a")
    b.input_stream("b")
    b.add_node(Log, inputs={"A": "a", "B": "b"}, outputs={"OUT": "log"})
    graph = b.build()
    out = graph.run({"a": packets(3, step=2), "b": packets(3, step=2, start=1)}, collect=["log"], timeout=TIMEOUT)
    assert [p.payload for p in out["log"]] == [(["A"], 0), (["B"], 1), (["A"], 2), (["B"], 3), (["A"], 4),
                                               (["B"], 5)]


def test_close_can_emit_post_stream_summary():
    class Sum(Calculator):
        inputs = ("IN",)
        outputs = ("TOTAL",)

        def open(self, ctx):
            self.total = 0

        def process(self, ctx):
            self.total += ctx.input("IN")

        def close(self, ctx):
            if ctx.graph_error is None:
                ctx.outputs.add("TOTAL", self.total)

    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Sum, inputs="x", outputs="total")
    graph = b.build()
    out = graph.run({"x": packets(10)}, collect=["total"], timeout=TIMEOUT)
    assert [(p.payload, p.timestamp) for p in out["total"]] == [(45, Timestamp.POST_STREAM)]


class Boom(Calculator):
    inputs = ("IN",)
    outputs = ("OUT",)
    closed_with: list = []

    @dataclass(frozen=True)
    class Options:
        fail_at: int = 5

    def process(self, ctx):
        if ctx.timestamp == ctx.options.fail_at:
            raise ValueError("bad frame")
        ctx.outputs.add("OUT", ctx.input("IN"))

    def close(self, ctx):
        Boom.closed_with.append(ctx.graph_error)


def _failing_graph(fail_at=5, queue=2):
    b = GraphBuilder(max_queue_size=queue)
    b.input_stream("x")
    b.add_node(Scale, inputs="x", outputs="y")
    b.add_node(Boom, name="detector", inputs="y", outputs="z", options={"fail_at": fail_at})
    b.add_node(Scale, name="after", inputs="z", outputs="w")
    return b.build()


def test_failing_node_reports_name_and_timestamp_and_stops_cleanly():
    Boom.closed_with.clear()
    graph = _failing_graph()
    graph.start()
    with pytest.raises(GraphError) as info:
        # The feeder must not block forever on a full queue once the graph has failed.
        for t in range(1000):
            graph.add_packet("x", t, timestamp=t, timeout=TIMEOUT)
        graph.close(timeout=TIMEOUT)
    err = info.value
    assert err.node == "detector" and err.timestamp == 5 and err.phase == "process"
    assert "'detector'" in str(err) and "timestamp 5" in str(err) and "bad frame" in str(err)
    assert isinstance(err.__cause__, ValueError)
    with pytest.raises(GraphError, match="detector"):
        graph.wait_until_done(TIMEOUT)
    # close() still ran, and was told why.
    assert len(Boom.closed_with) == 1 and Boom.closed_with[0] is err


def test_failing_open_raises_from_start():
    class BadOpen(Calculator):
        inputs = ("IN",)

        def open(self, ctx):
            raise FileNotFoundError("model.tflite")

    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(BadOpen, name="loader", inputs="x")
    graph = b.build()
    with pytest.raises(GraphError, match=r"'loader'.*open\(\).*model.tflite") as info:
        graph.start()
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_failing_callback_surfaces():
    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Scale, inputs="x", outputs="y")
    graph = b.build()

    def cb(packet):
        if packet.timestamp == 3:
            raise RuntimeError("sink full")

    graph.observe_output("y", cb)
    with pytest.raises(GraphError, match=r"callback:y.*timestamp 3.*sink full"):
        graph.run({"x": packets(10)}, timeout=TIMEOUT)


def test_graph_can_run_again_after_a_failure():
    graph = _failing_graph(fail_at=2)
    with pytest.raises(GraphError):
        graph.run({"x": packets(5)}, timeout=TIMEOUT)
    out = graph.run({"x": packets(2)}, collect=["w"], timeout=TIMEOUT)
    assert [p.payload for p in out["w"]] == [0, 4]


def test_non_increasing_timestamps_are_rejected():
    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Scale, inputs="x", outputs="y")
    graph = b.build()
    graph.start()
    graph.add_packet("x", 1, timestamp=5)
    with pytest.raises(ValueError, match="not after"):
        graph.add_packet("x", 1, timestamp=5)
    graph.close(timeout=TIMEOUT)

    class Backwards(Calculator):
        inputs = ("IN",)
        outputs = ("OUT",)

        def process(self, ctx):
            ctx.outputs.add("OUT", 0, timestamp=100 - ctx.timestamp)

    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Backwards, name="back", inputs="x", outputs="y")
    with pytest.raises(GraphError, match=r"'back'.*timestamp 99.*must increase"):
        b.build().run({"x": packets(3)}, timeout=TIMEOUT)


def test_stop_from_a_middle_node_closes_it_and_drops_the_rest():
    class FirstN(Calculator):
        inputs = ("IN",)
        outputs = ("OUT",)

        def open(self, ctx):
            self.n = 0

        def process(self, ctx):
            self.n += 1
            ctx.outputs.add("OUT", ctx.input("IN"))
            return STOP if self.n == 3 else None

    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(FirstN, inputs="x", outputs="y")
    graph = b.build()
    out = graph.run({"x": packets(50)}, collect=["y"], timeout=TIMEOUT)
    assert [p.payload for p in out["y"]] == [0, 1, 2]


def test_cancel_stops_a_run():
    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Scale, inputs="x", outputs="y", options={"delay_s": 0.01})
    graph = b.build()
    graph.start()
    for t in range(3):
        graph.add_packet("x", t, timestamp=t, timeout=TIMEOUT)
    graph.cancel()
    with pytest.raises(GraphCancelledError):
        graph.wait_until_done(TIMEOUT)


def test_stall_is_reported_instead_of_hanging():
    # A default-policy node waiting on a back edge that can only be produced after it runs.
    class Loop(Calculator):
        inputs = ("IN", "PREV")
        outputs = ("OUT",)

        def process(self, ctx):
            ctx.outputs.add("OUT", ctx.input("IN"))

    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Loop, inputs={"IN": "x", "PREV": "y"}, back_edges=["PREV"], outputs={"OUT": "y"})
    with pytest.raises(GraphError, match=r"stalled.*'Loop'"):
        b.build().run({"x": packets(3)}, timeout=TIMEOUT)


def test_one_input_fed_far_ahead_grows_the_queue_or_reports_deadlock(caplog):
    b = GraphBuilder(max_queue_size=4)
    b.input_stream("a")
    b.input_stream("b")
    b.add_node(Pair, inputs={"A": "a", "B": "b"}, outputs={"OUT": "pairs"})
    config = b.config

    def feed(graph):
        graph.start()
        for t in range(20):  # all of a first, then all of b: a's queue must hold 20
            graph.add_packet("a", t, timestamp=t, timeout=TIMEOUT)
        for t in range(20):
            graph.add_packet("b", t, timestamp=t, timeout=TIMEOUT)
        graph.close(timeout=TIMEOUT)

    from facepipe.graph import Graph

    grow = Graph(config)
    feed(grow)
    assert grow.profile().node("Pair").calls == 20
    assert "grown" in caplog.text
    strict = Graph(config, grow_queues_on_deadlock=False)
    with pytest.raises(GraphError, match="deadlock"):
        feed(strict)


def test_side_packets_reach_calculators_and_missing_ones_are_reported():
    class Offset(Calculator):
        inputs = ("IN",)
        outputs = ("OUT",)
        side_packets = ("OFFSET",)

        def process(self, ctx):
            ctx.outputs.add("OUT", ctx.input("IN") + ctx.side_packets["OFFSET"])

    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Offset, inputs="x", outputs="y", side_packets={"OFFSET": "offset"})
    graph = b.build()
    out = graph.run({"x": packets(3)}, side_packets={"offset": 100}, collect=["y"], timeout=TIMEOUT)
    assert [p.payload for p in out["y"]] == [100, 101, 102]
    with pytest.raises(GraphError, match="missing side packet.*offset"):
        graph.start()


def test_profile_table_lists_every_node():
    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(Scale, name="scale", inputs="x", outputs="y", options={"delay_s": 0.001})
    graph = b.build()
    graph.run({"x": packets(20)}, timeout=TIMEOUT)
    table = graph.profile_table()
    assert "scale" in table and "Scale" in table
    row = next(line for line in table.splitlines() if line.startswith("scale"))
    assert row.split()[2] == "20"  # calls
    prof = graph.profile().node("scale")
    assert prof.calls == 20 and prof.mean_s >= 0.001 and prof.total_s >= 0.02


def test_function_calculator_wraps_a_plain_function():
    seen_threads = set()

    def combine(a, b, timestamp):
        seen_threads.add(threading.current_thread().name)
        return None if b is None else (a + b, timestamp)

    b = GraphBuilder(num_workers=2)
    b.input_stream("a")
    b.input_stream("b")
    b.add_node(FunctionCalculator, name="combine", inputs={"IN1": "b", "IN0": "a"}, outputs={"OUT": "sum"},
               options=FunctionOptions(combine, with_timestamp=True), max_in_flight=2)
    graph = b.build()
    out = graph.run({"a": packets(6), "b": [Packet(10 * t, t) for t in range(0, 6, 2)]}, collect=["sum"],
                    timeout=TIMEOUT)
    # Arguments in tag order (IN0, IN1); nothing emitted where fn returned None.
    assert [(p.timestamp, p.payload) for p in out["sum"]] == [(0, (0, 0)), (2, (22, 2)), (4, (44, 4))]
    assert seen_threads and all(name.startswith("facepipe-graph") for name in seen_threads)


def test_bounded_poller_throttles_the_graph_to_its_reader():
    produced = []

    class Source(Calculator):
        outputs = ("OUT",)

        def open(self, ctx):
            self.i = 0

        def process(self, ctx):
            if self.i == 50:
                return STOP
            produced.append(self.i)
            ctx.outputs.add("OUT", self.i, timestamp=self.i)
            self.i += 1
            return None

    b = GraphBuilder()
    b.add_node(Source, outputs="n")
    graph = b.build()
    poller = graph.poller("n", max_queue_size=2)
    graph.start()
    first = poller.get(timeout=TIMEOUT)
    time.sleep(0.1)  # a slow reader: the source must wait for it instead of running ahead
    assert first.payload == 0 and len(produced) <= 4
    rest = [p.payload for p in poller]
    graph.wait_until_done(TIMEOUT)
    assert rest == list(range(1, 50))


def test_failing_close_is_reported_and_not_called_twice():
    calls = []

    class BadClose(Calculator):
        inputs = ("IN",)

        def process(self, ctx):
            pass

        def close(self, ctx):
            calls.append(ctx.graph_error)
            raise OSError("disk full")

    b = GraphBuilder()
    b.input_stream("x")
    b.add_node(BadClose, name="writer", inputs="x")
    with pytest.raises(GraphError, match=r"'writer'.*close\(\).*disk full") as info:
        b.build().run({"x": packets(3)}, timeout=TIMEOUT)
    assert info.value.phase == "close" and calls == [None]
