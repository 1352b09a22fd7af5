"""Subgraphs: a node that expands into a group of nodes.

A subgraph declares ports like a calculator does. `expand(options)` returns a
GraphConfig whose `input_streams`, `output_streams` and `input_side_packets`
map the subgraph's tags to its internal names. When used as node "det", the
internal streams bound to tags take the names of the outer streams; every other
internal stream and node name gets the prefix "det/", so two uses never clash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any, ClassVar

from facepipe.graph.calculator import tag_declared
from facepipe.graph.config import GraphConfig, NodeConfig
from facepipe.graph.errors import GraphConfigError

__all__ = ["Subgraph", "ConfigSubgraph", "expand_node", "default_node_names"]


class Subgraph:
    """Base class of subgraphs written in Python: override `expand(options)`."""

    inputs: ClassVar[tuple[str, ...]] = ()
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    side_packets: ClassVar[tuple[str, ...]] = ()
    optional_side_packets: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type | None] = None

    def expand(self, options: Any) -> GraphConfig:
        raise NotImplementedError(f"{type(self).__name__} must implement expand()")


class ConfigSubgraph:
    """A subgraph defined by a GraphConfig (e.g. a file with `type: Name`). It takes no options."""

    Options = None

    def __init__(self, config: GraphConfig) -> None:
        self.config = config
        self.name = config.type or "subgraph"
        self.inputs = tuple(config.input_streams)
        self.optional_inputs: tuple[str, ...] = ()
        self.outputs = tuple(config.output_streams)
        self.side_packets = tuple(config.input_side_packets)
        self.optional_side_packets: tuple[str, ...] = ()

    def expand(self, options: Any) -> GraphConfig:
        return self.config

    def __repr__(self) -> str:
        return f"ConfigSubgraph({self.name!r})"


def calculator_display_name(calculator: Any) -> str:
    if isinstance(calculator, type):
        return calculator.__name__
    if isinstance(calculator, ConfigSubgraph):
        return calculator.name
    if isinstance(calculator, (Subgraph,)):
        return type(calculator).__name__
    return str(calculator).replace(":", ".").rsplit(".", 1)[-1]


def default_node_names(nodes: Iterable[NodeConfig]) -> list[str]:
    """Explicit names, else the calculator's name (with _2, _3... for repeats)."""
    nodes = list(nodes)
    taken = {n.name for n in nodes if n.name}
    names = []
    for node in nodes:
        if node.name:
            names.append(node.name)
            continue
        base = calculator_display_name(node.calculator)
        name, k = base, 1
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        names.append(name)
    return names


def expand_node(node: NodeConfig, name: str, spec: Any, options: Any) -> list[NodeConfig]:
    """The inner nodes of subgraph `spec` used as node `name`, with streams renamed."""
    try:
        config = spec.expand(options)
    except GraphConfigError:
        raise
    except Exception as exc:
        raise GraphConfigError(
            f"node {name!r}: subgraph {calculator_display_name(spec)} failed to expand: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(config, GraphConfig):
        raise GraphConfigError(f"node {name!r}: {type(spec).__name__}.expand() must return a GraphConfig")
    if node.back_edges or node.input_policy or node.max_in_flight != 1:
        raise GraphConfigError(
            f"node {name!r}: back_edges, input_policy and max_in_flight do not apply to a "
            f"subgraph; set them on its inner nodes"
        )
    prefix = f"{name}/"
    stream_map: dict[str, str | None] = {}
    for tag, inner in config.input_streams.items():
        stream_map[inner] = node.inputs.get(tag)  # None: optional and unconnected -> drop the inner ports
    for tag, inner in config.output_streams.items():
        if tag in node.outputs:
            stream_map[inner] = node.outputs[tag]
    side_map: dict[str, str | None] = {}
    for tag, inner in config.input_side_packets.items():
        side_map[inner] = node.side_packets.get(tag)

    def rename(
        streams: dict[str, str], mapping: dict[str, str | None], prefix_others: bool
    ) -> dict[str, str]:
        out = {}
        for tag, stream in streams.items():
            if stream in mapping:
                if mapping[stream] is not None:
                    out[tag] = mapping[stream]  # type: ignore[assignment]
            else:
                out[tag] = prefix + stream if prefix_others else stream
        return out

    inner_names = default_node_names(config.nodes)
    expanded = []
    for inner, inner_name in zip(config.nodes, inner_names, strict=False):
        expanded.append(
            replace(
                inner,
                name=prefix + inner_name,
                inputs=rename(inner.inputs, stream_map, True),
                outputs=rename(inner.outputs, stream_map, True),
                # Side packets not bound to the subgraph's tags are graph-wide names: keep them.
                side_packets=rename(inner.side_packets, side_map, False),
            )
        )
    return expanded


def check_ports(name: str, kind: str, spec: Any, given: Iterable[str], required: Iterable[str],
                optional: Iterable[str] = ()) -> None:
    """Every given tag is declared, and every required tag is given."""
    required = tuple(required)
    declared = required + tuple(optional)
    given = list(given)
    for tag in given:
        if not tag_declared(tag, declared):
            raise GraphConfigError(
                f"node {name!r}: {calculator_display_name(spec)} has no {kind} {tag!r}"
                f" (declared: {', '.join(declared) or 'none'})"
            )
    for tag in required:
        if not tag.endswith("*") and tag not in given:
            raise GraphConfigError(
                f"node {name!r}: {kind} {tag!r} of {calculator_display_name(spec)} is not connected"
            )
