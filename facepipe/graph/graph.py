"""Graph: build from Python or a config file, run, observe outputs, profile.

builder = GraphBuilder()
frames = builder.input_stream("frames")
builder.add_node(Scale, inputs={"IN": frames}, outputs={"OUT": "scaled"}, options={"factor": 3})
graph = builder.build()
graph.observe_output("scaled", print)
graph.start()
for i, x in enumerate(data):
    graph.add_packet("frames", x, timestamp=i)
graph.close()            # close the inputs, wait for the last packet
print(graph.profile_table())
"""

from __future__ import annotations

import contextlib
import heapq
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from facepipe.graph.config import GraphConfig, NodeConfig, load_config
from facepipe.graph.errors import GraphError
from facepipe.graph.packet import Packet
from facepipe.graph.profiler import RunProfile, format_profile
from facepipe.graph.registry import CalculatorRegistry, default_registry
from facepipe.graph.scheduler import GraphRun, OutputPoller
from facepipe.graph.validate import NodeSpec, resolve_graph

__all__ = ["Graph", "GraphBuilder", "DEFAULT_MAX_QUEUE_SIZE"]

_ABANDON_WAIT_S = 30.0  # how long run() waits for calculators to clean up after a failure

DEFAULT_MAX_QUEUE_SIZE = 8
"""Packets an input queue holds before its producer waits. A few are enough to keep every
stage busy; more only costs memory (8 full-HD RGB frames are 50 MB)."""


class Graph:
    """A validated graph that can be run (repeatedly, one run at a time).

    config: a GraphConfig, a dict of the config-file structure, or a path to a
        .yaml/.toml/.json file.
    num_workers: worker threads (default: the config's, else os.cpu_count()).
    max_queue_size: default bound of every input queue (default: the config's, else 8).
    grow_queues_on_deadlock: when every node waits and a full queue is why (e.g. one input
        fed far ahead of another), raise that queue's bound, as MediaPipe does, and log a
        warning; False raises a GraphError instead.
    """

    def __init__(
        self,
        config: GraphConfig | Mapping[str, Any] | str | os.PathLike[str],
        *,
        registry: CalculatorRegistry | None = None,
        num_workers: int | None = None,
        max_queue_size: int | None = None,
        grow_queues_on_deadlock: bool = True,
    ) -> None:
        if isinstance(config, (str, os.PathLike)):
            config = load_config(Path(config))
        elif isinstance(config, Mapping):
            config = GraphConfig.from_dict(config)
        elif not isinstance(config, GraphConfig):
            raise TypeError(
                f"config must be a GraphConfig, a dict or a file path, got {type(config).__name__}"
            )
        if config.type:
            raise GraphError(
                f"{config.source or 'config'} defines subgraph {config.type!r}; register it with"
                f" register_subgraph() and use it as a node instead of running it directly"
            )
        self.config = config
        self._resolved = resolve_graph(config, registry or default_registry)
        self.num_workers = num_workers or config.num_workers or os.cpu_count() or 1
        self.max_queue_size = max_queue_size or config.max_queue_size or DEFAULT_MAX_QUEUE_SIZE
        self._grow = grow_queues_on_deadlock
        self._streams = set(self._resolved.input_streams) | {
            s for n in self._resolved.nodes for s in n.outputs.values()
        }
        self._callbacks: list[tuple[str, Callable[[Packet], Any]]] = []
        self._pollers: list[OutputPoller] = []
        self._run: GraphRun | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ structure

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> Graph:
        return cls(load_config(path), **kwargs)

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        """The calculator nodes after subgraph expansion, in topological order."""
        return self._resolved.nodes

    @property
    def input_streams(self) -> tuple[str, ...]:
        return self._resolved.input_streams

    @property
    def output_streams(self) -> tuple[str, ...]:
        return self._resolved.output_streams

    def topology(self) -> tuple:
        """Comparable description of the expanded graph: inputs, outputs, and every node's ports."""
        return (
            tuple(sorted(self._resolved.input_streams)),
            tuple(sorted(self._resolved.output_streams)),
            tuple(n.topology() for n in self._resolved.nodes),
        )

    # ------------------------------------------------------------------ outputs

    def observe_output(self, stream: str, callback: Callable[[Packet], Any]) -> None:
        """Call `callback(packet)` for every packet of `stream`, in order, on a worker thread.
        An exception in it fails the run like a node's would. Applies to runs started later."""
        self._check_stream(stream)
        self._callbacks.append((stream, callback))

    def poller(self, stream: str, max_queue_size: int | None = None) -> OutputPoller:
        """An iterator over `stream`'s packets for the runs started later (see OutputPoller)."""
        self._check_stream(stream)
        poller = OutputPoller(stream, max_queue_size)
        self._pollers.append(poller)
        return poller

    def _check_stream(self, stream: str) -> None:
        if self._run is not None and not self._run.finished:
            raise GraphError("add observers and pollers before start()")
        if stream not in self._streams:
            raise GraphError(
                f"no stream {stream!r} in this graph (streams: {', '.join(sorted(self._streams))})"
            )

    # ------------------------------------------------------------------ running

    def start(self, side_packets: Mapping[str, Any] | None = None) -> Graph:
        """Open every node and start the workers. Raises GraphError if an open() fails."""
        side_packets = dict(side_packets or {})
        missing = sorted(self._resolved.required_side_packets - set(side_packets))
        if missing:
            raise GraphError(f"missing side packet(s) {', '.join(missing)} needed by the graph")
        with self._lock:
            if self._run is not None and not self._run.finished:
                raise GraphError("the graph is already running; wait_until_done() first")
            self._run = GraphRun(
                self._resolved,
                side_packets,
                list(self._callbacks),
                list(self._pollers),
                self.num_workers,
                self.max_queue_size,
                self._grow,
            )
        self._run.start()
        return self

    def _active(self) -> GraphRun:
        if self._run is None:
            raise GraphError("the graph has not been started")
        return self._run

    def add_packet(
        self, stream: str, payload: Any, timestamp: int | None = None, *, timeout: float | None = None
    ) -> None:
        """Feed a graph input stream; blocks while its consumers' queues are full.

        `payload` may be a Packet (then `timestamp` must be None). Timestamps (int, µs)
        must increase per stream.
        """
        if isinstance(payload, Packet):
            if timestamp is not None:
                raise ValueError("give either a Packet or a payload and a timestamp")
            packet = payload
        else:
            if timestamp is None:
                raise ValueError(f"graph input {stream!r}: add_packet needs a timestamp")
            packet = Packet(payload, timestamp)
        self._active().add_packet(stream, packet, timeout)

    def set_input_bound(self, stream: str, timestamp: int) -> None:
        """Promise that no packet below `timestamp` will follow on a graph input (so nodes need not wait)."""
        self._active().set_input_bound(stream, timestamp)

    def close_input(self, stream: str) -> None:
        self._active().close_input(stream)

    def close_all_inputs(self) -> None:
        self._active().close_all_inputs()

    def wait_until_done(self, timeout: float | None = None) -> None:
        """Wait for the run to finish (inputs closed, every node closed). Raises the run's GraphError,
        or TimeoutError naming what the nodes wait for."""
        self._active().wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Close all inputs and wait for the run to finish."""
        run = self._active()
        if not run.finished:
            run.close_all_inputs()
        run.wait(timeout)

    def cancel(self) -> None:
        """Stop the run: no new calls start, running ones finish, calculators get close() with
        ctx.graph_error set; wait_until_done() raises GraphCancelledError."""
        self._active().cancel()

    def run(
        self,
        inputs: Mapping[str, Iterable[Packet]] | None = None,
        side_packets: Mapping[str, Any] | None = None,
        *,
        collect: Iterable[str] = (),
        timeout: float | None = None,
    ) -> dict[str, list[Packet]]:
        """Start, feed each input's packets (merged in timestamp order), close, wait.

        Returns the packets of the streams named in `collect`.
        """
        collected: dict[str, list[Packet]] = {}
        extra = []
        for stream in collect:
            self._check_stream(stream)
            collected[stream] = []
            extra.append((stream, collected[stream].append))
        saved = self._callbacks
        self._callbacks = saved + extra
        try:
            self.start(side_packets)
        finally:
            self._callbacks = saved
        try:
            names = list(inputs or {})
            streams = [_tagged(name, it) for name, it in (inputs or {}).items()]
            for name, packet in heapq.merge(*streams, key=_packet_time):
                # Merged in timestamp order: no other input can still get a packet below this one.
                # Saying so first lets nodes that join a sparse input move on instead of waiting
                # for its next packet while this add_packet waits for queue room.
                for other in names:
                    if other != name:
                        self.set_input_bound(other, packet.timestamp)
                self.add_packet(name, packet, timeout=timeout)
            self.close(timeout)
        except BaseException:
            # Failed, timed out or interrupted: stop the workers and let every calculator clean up
            # (e.g. delete a half-written video) before the error goes up.
            self.cancel()
            with contextlib.suppress(GraphError, TimeoutError):
                self.wait_until_done(_ABANDON_WAIT_S)
            raise
        return collected

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._run is None or self._run.finished:
            return
        if exc_type is not None:
            self.cancel()
            with contextlib.suppress(GraphError):
                self._run.wait(None)
        else:
            self.close()

    # ------------------------------------------------------------------ profile

    def profile(self) -> RunProfile:
        """Per-node numbers of the current or last run."""
        return self._active().profile()

    def profile_table(self) -> str:
        return format_profile(self.profile())


def _tagged(name: str, packets: Iterable[Packet]) -> Iterator[tuple[str, Packet]]:
    for packet in packets:
        if not isinstance(packet, Packet):
            raise TypeError(f"run(): inputs of {name!r} must be Packets, got {type(packet).__name__}")
        yield name, packet


def _packet_time(item: tuple[str, Packet]) -> int:
    return item[1].timestamp


class GraphBuilder:
    """Build a GraphConfig in Python; `build()` validates it into a Graph."""

    def __init__(self, *, max_queue_size: int | None = None, num_workers: int | None = None) -> None:
        self.config = GraphConfig(max_queue_size=max_queue_size, num_workers=num_workers)

    def input_stream(self, name: str, tag: str | None = None) -> str:
        self.config.input_streams[tag or name] = name
        return name

    def output_stream(self, name: str, tag: str | None = None) -> str:
        self.config.output_streams[tag or name] = name
        return name

    def side_packet(self, name: str, tag: str | None = None) -> str:
        self.config.input_side_packets[tag or name] = name
        return name

    def add_node(
        self,
        calculator: Any,
        *,
        name: str | None = None,
        inputs: Mapping[str, str] | Iterable[str] | str | None = None,
        outputs: Mapping[str, str] | Iterable[str] | str | None = None,
        side_packets: Mapping[str, str] | Iterable[str] | str | None = None,
        options: Any = None,
        back_edges: Iterable[str] = (),
        input_policy: str | None = None,
        max_in_flight: int = 1,
        max_queue_size: int | None = None,
    ) -> NodeConfig:
        node = NodeConfig(
            calculator=calculator,
            name=name,
            inputs=inputs,  # type: ignore[arg-type]  # normalized in __post_init__
            outputs=outputs,  # type: ignore[arg-type]
            side_packets=side_packets,  # type: ignore[arg-type]
            options=options,
            back_edges=tuple(back_edges),
            input_policy=input_policy,
            max_in_flight=max_in_flight,
            max_queue_size=max_queue_size,
        )
        self.config.nodes.append(node)
        return node

    def build(self, **kwargs: Any) -> Graph:
        return Graph(self.config, **kwargs)
