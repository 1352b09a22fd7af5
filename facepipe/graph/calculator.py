"""The Calculator base class and the context it sees.

A calculator declares its ports as class attributes and implements
`open(ctx)`, `process(ctx)` and `close(ctx)`:

    class Scale(Calculator):
        inputs = ("IN",)
        outputs = ("OUT",)

        @dataclass(frozen=True)
        class Options:
            factor: float = 2.0

        def process(self, ctx):
            ctx.outputs.add("OUT", ctx.input("IN") * ctx.options.factor)

Port names ("tags") are upper-case by convention; a graph maps each tag to a
stream name. A tag ending in "*" is a family: "IN*" accepts IN, IN:0, IN_LEFT...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from facepipe.graph.packet import Packet, Timestamp, format_timestamp

if TYPE_CHECKING:
    from facepipe.graph.errors import GraphError

__all__ = ["Calculator", "CalculatorContext", "OutputSet", "STOP", "DEFAULT", "IMMEDIATE", "tag_declared"]

DEFAULT = "default"
"""Input policy: process() is called once per timestamp with every input aligned at it
(a stream with no packet at that timestamp gives None), once all inputs have settled it."""

IMMEDIATE = "immediate"
"""Input policy: process() is called for every packet as soon as it arrives, one stream
at a time (the others are None). For flow control and loops."""

INPUT_POLICIES = (DEFAULT, IMMEDIATE)


class _Stop:
    _instance: ClassVar[_Stop | None] = None

    def __new__(cls) -> _Stop:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "STOP"


STOP: Any = _Stop()
"""Return this from process() to finish the node: a source stops producing, any other
node closes and ignores its remaining input."""


def tag_declared(tag: str, declared: Iterable[str]) -> bool:
    """Whether `tag` matches one of the declared tags (a "X*" declaration matches any tag starting with X)."""
    return any(d == tag or d.endswith("*") and tag.startswith(d[:-1]) for d in declared)


class Calculator:
    """Base class of graph nodes. Subclass it and override what you need.

    Class attributes:
      inputs / optional_inputs: input stream tags (required / may be unconnected).
      outputs: output stream tags (any may be left unconnected; packets to it are dropped).
      side_packets / optional_side_packets: tags of values given once per run.
      Options: a dataclass of the node's options (built from the config's `options` dict).
      input_policy: DEFAULT (timestamp-aligned) or IMMEDIATE; a node config may override it.
      auto_bounds: after each timestamp settles on the inputs, advance the output streams'
        timestamp bounds to it, so that downstream nodes need not wait for packets this node
        did not send. Set False when outputs are not at input timestamps; then set bounds
        with ctx.outputs.set_bound().
      reentrant: one instance may run process() on several threads at once. Otherwise a
        node with max_in_flight=k gets k instances, each run by one thread at a time.
      process_bounds: (IMMEDIATE policy only) also call process() when an input's timestamp
        bound advances without a packet (all inputs None, ctx.timestamp None); ctx.bounds
        tells how far each input has settled. For flow control.

    A node with no inputs is a source: process() is called repeatedly (ctx.timestamp is
    None; outputs need explicit timestamps) until it returns STOP.
    """

    inputs: ClassVar[tuple[str, ...]] = ()
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    side_packets: ClassVar[tuple[str, ...]] = ()
    optional_side_packets: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type | None] = None
    input_policy: ClassVar[str] = DEFAULT
    auto_bounds: ClassVar[bool] = True
    reentrant: ClassVar[bool] = False
    process_bounds: ClassVar[bool] = False

    def open(self, ctx: CalculatorContext) -> None:
        """Called once before any process(); load models, create state here."""

    def process(self, ctx: CalculatorContext) -> Any:
        """Called per timestamp (or per packet, or per call for sources). May return STOP."""
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    def close(self, ctx: CalculatorContext) -> None:
        """Called once after the last process(), also when the run failed (then ctx.graph_error is set:
        release resources, do not finalize outputs). Outputs added here default to POST_STREAM."""


class OutputSet:
    """Collects what one call emits; the scheduler delivers it when the call returns."""

    __slots__ = ("_declared", "_connected", "_default_ts", "packets", "bounds", "_node")

    def __init__(
        self, node: str, declared: tuple[str, ...], connected: frozenset[str], default_ts: int | None
    ):
        self._node = node
        self._declared = declared
        self._connected = connected
        self._default_ts = default_ts
        self.packets: list[tuple[str, Packet]] = []
        self.bounds: dict[str, int] = {}

    @property
    def tags(self) -> frozenset[str]:
        """The output tags connected to a stream in this graph."""
        return self._connected

    def _check_tag(self, tag: str) -> bool:
        if tag in self._connected:
            return True
        if not tag_declared(tag, self._declared):
            raise KeyError(
                f"node {self._node!r} has no output {tag!r} (declared: {', '.join(self._declared)})"
            )
        return False

    def add(self, tag: str, payload: Any, timestamp: int | None = None) -> None:
        """Emit `payload` on output `tag` at `timestamp` (default: the current input timestamp)."""
        if timestamp is None:
            timestamp = self._default_ts
            if timestamp is None:
                raise ValueError(f"node {self._node!r}: outputs added here need an explicit timestamp")
        if self._check_tag(tag):
            self.packets.append((tag, Packet(payload, timestamp)))

    def add_packet(self, tag: str, packet: Packet) -> None:
        """Emit an existing packet (payload and timestamp) on output `tag`."""
        if self._check_tag(tag):
            self.packets.append((tag, packet))

    def close(self, tag: str) -> None:
        """Promise that no packet at all will follow on `tag` (e.g. a header stream after its header)."""
        self.set_bound(tag, Timestamp.DONE)

    def set_bound(self, tag: str, timestamp: int) -> None:
        """Promise that no packet below `timestamp` will follow on `tag`, so consumers can move on."""
        if self._check_tag(tag):
            self.bounds[tag] = max(timestamp, self.bounds.get(tag, Timestamp.UNSTARTED))


class CalculatorContext:
    """What a calculator sees in open/process/close.

    inputs: tag -> Packet or None (no packet at this timestamp) for every connected input tag.
    bounds: (process_bounds calculators) tag -> the smallest timestamp a not-yet-seen packet
        on that input can have.
    call_index: in process(), how many process() calls of this node came before this one (in
        timestamp order, counted over all of a parallel node's instances); None elsewhere.
    timestamp: the input timestamp being processed (None in open, in sources; POST_STREAM in close).
    outputs: OutputSet; options: the Options instance (or None); side_packets: tag -> value.
    graph_error: in close() after a failure, the error that stopped the run; else None.
    """

    __slots__ = (
        "node_name",
        "options",
        "side_packets",
        "inputs",
        "outputs",
        "timestamp",
        "graph_error",
        "bounds",
        "call_index",
        "_counters",
    )

    def __init__(
        self,
        node_name: str,
        options: Any,
        side_packets: Mapping[str, Any],
        inputs: dict[str, Packet | None],
        outputs: OutputSet,
        timestamp: int | None,
        counters: dict[str, int],
        graph_error: GraphError | None = None,
        bounds: dict[str, int] | None = None,
        call_index: int | None = None,
    ) -> None:
        self.node_name = node_name
        self.options = options
        self.side_packets = side_packets
        self.inputs = inputs
        self.outputs = outputs
        self.timestamp = timestamp
        self.graph_error = graph_error
        self.bounds = bounds if bounds is not None else {}
        self.call_index = call_index
        self._counters = counters

    def input(self, tag: str, default: Any = None) -> Any:
        """Payload of the packet on input `tag` at this timestamp, or `default` when there is none."""
        packet = self.inputs.get(tag)
        return default if packet is None else packet.payload

    def count(self, name: str, n: int = 1) -> None:
        """Add n to a named counter shown in the graph's profile (e.g. dropped frames)."""
        self._counters[name] = self._counters.get(name, 0) + n

    def __repr__(self) -> str:
        present = [t for t, p in self.inputs.items() if p is not None]
        return (
            f"CalculatorContext({self.node_name!r}, ts={format_timestamp(self.timestamp)}, inputs={present})"
        )
