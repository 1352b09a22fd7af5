"""Turn a GraphConfig into checked, resolved node specs.

Expands subgraphs, resolves calculators, builds options, and checks the
topology: every consumed stream has exactly one producer, ports exist, and
every cycle goes through an input marked as a back edge.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from facepipe.graph.calculator import INPUT_POLICIES, Calculator
from facepipe.graph.config import SINGLE, GraphConfig, NodeConfig
from facepipe.graph.errors import GraphConfigError
from facepipe.graph.registry import CalculatorRegistry
from facepipe.graph.subgraph import (
    ConfigSubgraph,
    Subgraph,
    calculator_display_name,
    check_ports,
    default_node_names,
    expand_node,
)

__all__ = ["NodeSpec", "ResolvedGraph", "resolve_graph", "build_options"]

MAX_SUBGRAPH_DEPTH = 32


@dataclass(frozen=True)
class NodeSpec:
    """A calculator node after expansion and checking."""

    name: str
    calculator: type[Calculator]
    options: Any
    inputs: dict[str, str]
    outputs: dict[str, str]
    side_packets: dict[str, str]
    back_edges: frozenset[str]
    input_policy: str
    max_in_flight: int
    max_queue_size: int | None

    def topology(self) -> tuple:
        """Comparable description (no options): name, calculator, ports."""
        return (
            self.name,
            f"{self.calculator.__module__}.{self.calculator.__qualname__}",
            tuple(sorted(self.inputs.items())),
            tuple(sorted(self.outputs.items())),
            tuple(sorted(self.side_packets.items())),
            tuple(sorted(self.back_edges)),
            self.input_policy,
            self.max_in_flight,
        )


@dataclass(frozen=True)
class ResolvedGraph:
    nodes: tuple[NodeSpec, ...]  # topological order (back edges ignored)
    input_streams: tuple[str, ...]
    output_streams: tuple[str, ...]
    side_packets: frozenset[str]  # graph side packet names some node needs
    required_side_packets: frozenset[str]
    config: GraphConfig


def resolve_graph(config: GraphConfig, registry: CalculatorRegistry) -> ResolvedGraph:
    where = config.source or "graph"
    for module in config.imports:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise GraphConfigError(f"{where}: cannot import {module!r} listed in imports: {exc}") from None
    try:
        nodes = _expand(config.nodes, registry, stack=())
        return _check(config, nodes)
    except GraphConfigError as exc:
        if config.source and config.source not in str(exc):
            raise GraphConfigError(f"{config.source}: {exc}") from exc.__cause__
        raise


def _expand(
    configs: list[NodeConfig], registry: CalculatorRegistry, stack: tuple[str, ...]
) -> list[NodeSpec]:
    out: list[NodeSpec] = []
    for node, name in zip(configs, default_node_names(configs), strict=False):
        try:
            spec = registry.lookup(node.calculator)
        except GraphConfigError as exc:
            raise GraphConfigError(f"node {name!r}: {exc}") from None
        if isinstance(spec, ConfigSubgraph) or (isinstance(spec, type) and issubclass(spec, Subgraph)):
            sub = spec if isinstance(spec, ConfigSubgraph) else spec()
            label = calculator_display_name(spec)
            if label in stack or len(stack) >= MAX_SUBGRAPH_DEPTH:
                raise GraphConfigError(
                    f"node {name!r}: subgraph {label} includes itself ({' > '.join(stack)})"
                )
            _check_all_ports(name, sub, node.inputs, node.outputs, node.side_packets)
            options = build_options(name, label, sub.Options, node.options)
            inner = expand_node(node, name, sub, options)
            out.extend(_expand(inner, registry, stack + (label,)))
        else:
            out.append(_calculator_node(node, name, spec))
    return out


def _resolve_single(
    name: str, kind: str, ports: dict[str, str], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, str]:
    """A bare stream name (tag SINGLE) goes to the only required tag (or the only tag, if none is required)."""
    if SINGLE not in ports:
        return ports
    candidates = [t for t in required if not t.endswith("*")]
    if not candidates and not any(t.endswith("*") for t in required):
        candidates = [t for t in optional if not t.endswith("*")]
    if len(candidates) != 1:
        declared = required + optional
        raise GraphConfigError(
            f"node {name!r}: {kind} stream {ports[SINGLE]!r} is given without a tag, but the calculator has"
            f" {len(declared)} {kind} tags ({', '.join(declared) or 'none'}); write 'TAG:{ports[SINGLE]}'"
        )
    return {candidates[0] if t == SINGLE else t: s for t, s in ports.items()}


def _check_all_ports(name: str, spec: Any, inputs: dict, outputs: dict, sides: dict) -> None:
    check_ports(name, "input", spec, inputs, spec.inputs, spec.optional_inputs)
    check_ports(name, "output", spec, outputs, (), spec.outputs)  # outputs may be left unconnected
    check_ports(name, "side packet", spec, sides, spec.side_packets, spec.optional_side_packets)


def _calculator_node(node: NodeConfig, name: str, calc: type[Calculator]) -> NodeSpec:
    label = calc.__name__
    inputs = _resolve_single(name, "input", node.inputs, calc.inputs, calc.optional_inputs)
    outputs = _resolve_single(name, "output", node.outputs, (), calc.outputs)
    sides = _resolve_single(name, "side packet", node.side_packets, calc.side_packets, calc.optional_side_packets)
    _check_all_ports(name, calc, inputs, outputs, sides)
    for tag in node.back_edges:
        if tag not in inputs:
            raise GraphConfigError(
                f"node {name!r}: back edge {tag!r} is not one of its connected inputs"
                f" ({', '.join(inputs) or 'none'})"
            )
    policy = node.input_policy or calc.input_policy
    if policy not in INPUT_POLICIES:
        raise GraphConfigError(f"node {name!r}: input_policy must be one of {INPUT_POLICIES}, got {policy!r}")
    if not isinstance(node.max_in_flight, int) or node.max_in_flight < 1:
        raise GraphConfigError(
            f"node {name!r}: max_in_flight must be an int >= 1, got {node.max_in_flight!r}"
        )
    if node.max_queue_size is not None and (
        not isinstance(node.max_queue_size, int) or node.max_queue_size < 1
    ):
        raise GraphConfigError(
            f"node {name!r}: max_queue_size must be an int >= 1, got {node.max_queue_size!r}"
        )
    if node.max_in_flight > 1 and not inputs:
        raise GraphConfigError(f"node {name!r}: a source node cannot have max_in_flight > 1")
    return NodeSpec(
        name=name,
        calculator=calc,
        options=build_options(name, label, calc.Options, node.options),
        inputs=inputs,
        outputs=outputs,
        side_packets=sides,
        back_edges=frozenset(node.back_edges),
        input_policy=policy,
        max_in_flight=node.max_in_flight,
        max_queue_size=node.max_queue_size,
    )


def build_options(node: str, label: str, options_cls: type | None, raw: Any) -> Any:
    """An Options instance from a dict (lists become tuples, nested dicts nested dataclasses)."""
    if options_cls is None:
        if raw:
            raise GraphConfigError(f"node {node!r}: {label} takes no options, got {raw!r}")
        return None
    if isinstance(raw, options_cls):
        return raw
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise GraphConfigError(
            f"node {node!r}: options must be a dict or a {options_cls.__name__}, got {raw!r}"
        )
    try:
        return _from_dict(options_cls, raw)
    except (TypeError, ValueError) as exc:
        raise GraphConfigError(f"node {node!r}: bad options for {label}: {exc}") from exc


def _from_dict(cls: type, raw: Mapping[str, Any]) -> Any:
    if not dataclasses.is_dataclass(cls):
        return cls(**raw)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(raw) - set(known)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; valid: {sorted(known)}")
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable forward references: skip conversion
        hints = {}
    kwargs = {}
    for key, value in raw.items():
        hint = hints.get(key)
        origin = typing.get_origin(hint)
        if isinstance(value, list) and (origin is tuple or hint is tuple):
            value = tuple(value)
        elif isinstance(value, Mapping) and isinstance(hint, type) and dataclasses.is_dataclass(hint):
            value = _from_dict(hint, value)
        kwargs[key] = value
    return cls(**kwargs)


def _check(config: GraphConfig, nodes: list[NodeSpec]) -> ResolvedGraph:
    seen: set[str] = set()
    for node in nodes:
        if node.name in seen:
            raise GraphConfigError(f"two nodes are named {node.name!r}")
        seen.add(node.name)
    producers: dict[str, str] = {}
    for stream in config.input_streams.values():
        if stream in producers:
            raise GraphConfigError(f"graph input stream {stream!r} is declared twice")
        producers[stream] = "graph input"
    for node in nodes:
        for tag, stream in node.outputs.items():
            if stream in producers:
                raise GraphConfigError(
                    f"stream {stream!r} has two producers: {producers[stream]} and node {node.name!r} ({tag})"
                )
            producers[stream] = f"node {node.name!r}"
    for node in nodes:
        for tag, stream in node.inputs.items():
            if stream not in producers:
                close = difflib.get_close_matches(stream, list(producers), n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise GraphConfigError(
                    f"node {node.name!r}: input {tag} reads stream {stream!r}, which no node produces and"
                    f" which is not a graph input stream{hint}"
                )
    for stream in config.output_streams.values():
        if stream not in producers:
            raise GraphConfigError(f"graph output stream {stream!r} is not produced by any node")
    ordered = _topological(nodes)
    side = frozenset(s for n in nodes for s in n.side_packets.values())
    required = frozenset(
        s for n in nodes for t, s in n.side_packets.items() if t in n.calculator.side_packets
    )
    return ResolvedGraph(
        nodes=tuple(ordered),
        input_streams=tuple(config.input_streams.values()),
        output_streams=tuple(config.output_streams.values()),
        side_packets=side,
        required_side_packets=required,
        config=config,
    )


def _topological(nodes: list[NodeSpec]) -> list[NodeSpec]:
    """Kahn's sort over non-back-edge inputs; a leftover cycle is reported with its path."""
    producer = {stream: n.name for n in nodes for stream in n.outputs.values()}
    by_name = {n.name: n for n in nodes}
    deps: dict[str, set[str]] = {n.name: set() for n in nodes}
    for n in nodes:
        for tag, stream in n.inputs.items():
            if tag not in n.back_edges and stream in producer:
                deps[n.name].add(producer[stream])
    users: dict[str, list[str]] = {n.name: [] for n in nodes}
    for name, ds in deps.items():
        for d in ds:
            users[d].append(name)
    remaining = {name: len(ds) for name, ds in deps.items()}
    ready = [n.name for n in nodes if remaining[n.name] == 0]
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for u in users[name]:
            remaining[u] -= 1
            if remaining[u] == 0:
                ready.append(u)
    if len(order) < len(nodes):
        cycle = _find_cycle({k: v for k, v in deps.items() if remaining[k] > 0})
        path = " -> ".join(cycle)
        raise GraphConfigError(
            f"the graph has a cycle: {path}. Mark the input that closes the loop as a back edge"
            f" (node option back_edges: [TAG]), and give that node a way to start without it"
            f" (e.g. a FlowLimiterCalculator)"
        )
    return [by_name[name] for name in order]


def _find_cycle(deps: dict[str, set[str]]) -> list[str]:
    start = next(iter(deps))
    path, index = [start], {start: 0}
    node = start
    while True:
        node = next(d for d in sorted(deps[node]) if d in deps)
        if node in index:
            cyc = path[index[node] :] + [node]
            return list(reversed(cyc))  # producer -> consumer order
        index[node] = len(path)
        path.append(node)
