"""Graph configs: dataclasses, and reading them from YAML, TOML or JSON.

A config file (any of the three formats) looks like this in YAML:

    input_streams: [frames]
    output_streams: [boxes]
    max_queue_size: 8
    imports: [mypackage.calculators]     # modules whose calculators should be registered
    nodes:
      - calculator: FlowLimiterCalculator
        inputs: {FRAMES: frames, FINISHED: boxes}
        back_edges: [FINISHED]
        outputs: {FRAMES: throttled}
      - calculator: mypackage.calculators:BoxFinder   # or a registered name
        name: finder
        inputs: {IMAGE: throttled}
        outputs: {BOXES: boxes}
        options: {min_score: 0.5}
        max_in_flight: 2

Port lists may also be MediaPipe-style strings: `inputs: ["IMAGE:throttled"]`, or a
single stream name for a calculator with exactly one port of that kind.
A config with `type: Name` defines a subgraph; its `input_streams`/`output_streams`
map the subgraph's tags to its internal stream names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from facepipe.graph.errors import GraphConfigError

__all__ = ["NodeConfig", "GraphConfig", "load_config", "parse_config", "ports"]

SINGLE = ""  # tag used for a port given as a bare stream name; resolved to the calculator's only tag


def ports(value: Any, what: str) -> dict[str, str]:
    """Normalize a port spec to {tag: stream}.

    Accepts a mapping, a list of "TAG:stream" strings, or a single bare stream name,
    which means "the calculator's only port" (tag SINGLE, resolved when the graph is built).
    """
    if value is None:
        return {}
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str) or not v:
                raise GraphConfigError(f"{what}: expected tag: stream-name strings, got {k!r}: {v!r}")
            out[k] = v
        return out
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise GraphConfigError(f"{what}: expected a mapping or a list of 'TAG:stream' strings, got {value!r}")
    out = {}
    for item in value:
        if not isinstance(item, str) or not item:
            raise GraphConfigError(f"{what}: expected 'TAG:stream' strings, got {item!r}")
        if ":" in item:
            tag, _, name = item.rpartition(":")
        elif len(value) == 1:
            tag, name = SINGLE, item
        else:
            raise GraphConfigError(f"{what}: {item!r} has no tag; with several ports write 'TAG:{item}'")
        if tag in out:
            raise GraphConfigError(f"{what}: tag {tag!r} is given twice")
        out[tag] = name
    return out


def _names(value: Any, what: str) -> dict[str, str]:
    """Graph-level stream / side packet declarations: a list of names (tag = name) or a tag mapping."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple)):
        out = {}
        for item in value:
            if not isinstance(item, str) or not item:
                raise GraphConfigError(f"{what}: expected stream names, got {item!r}")
            tag, _, name = item.rpartition(":") if ":" in item else (item, "", item)
            out[tag] = name
        return out
    return ports(value, what)


@dataclass
class NodeConfig:
    """One node: a calculator (or subgraph) and how its ports connect.

    calculator: a registered name, a dotted path ("pkg.mod:Class"), or the class itself.
    options: a dict of the calculator's Options fields, or an Options instance.
    back_edges: input tags that close a loop (e.g. a flow limiter's FINISHED).
    input_policy: override of the calculator's input policy ("default" or "immediate").
    max_in_flight: timestamps this node may process at once (>1 only for stateless nodes;
        outputs are re-emitted in timestamp order).
    max_queue_size: bound of this node's input queues (default: the graph's).
    """

    calculator: Any
    name: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    side_packets: dict[str, str] = field(default_factory=dict)
    options: Any = None
    back_edges: tuple[str, ...] = ()
    input_policy: str | None = None
    max_in_flight: int = 1
    max_queue_size: int | None = None

    def __post_init__(self) -> None:
        what = f"node {self.name or self.calculator!r}"
        self.inputs = ports(self.inputs, f"{what} inputs")
        self.outputs = ports(self.outputs, f"{what} outputs")
        self.side_packets = ports(self.side_packets, f"{what} side_packets")
        if isinstance(self.back_edges, str):
            self.back_edges = (self.back_edges,)
        self.back_edges = tuple(self.back_edges)
        if self.options is None:
            self.options = {}

    def options_dict(self) -> dict[str, Any]:
        """The options as a plain dict (an Options instance's fields, shallow)."""
        if isinstance(self.options, Mapping):
            return dict(self.options)
        if is_dataclass(self.options):
            return {f.name: getattr(self.options, f.name) for f in fields(self.options)}
        raise GraphConfigError(f"node {self.name!r}: options must be a dict or an Options dataclass")

    def to_dict(self) -> dict[str, Any]:
        calc = self.calculator
        if isinstance(calc, type):
            calc = f"{calc.__module__}:{calc.__qualname__}"
        out: dict[str, Any] = {"calculator": calc}
        if self.name:
            out["name"] = self.name
        for key in ("inputs", "outputs", "side_packets"):
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.back_edges:
            out["back_edges"] = list(self.back_edges)
        opts = self.options_dict()
        if opts:
            out["options"] = opts
        if self.input_policy:
            out["input_policy"] = self.input_policy
        if self.max_in_flight != 1:
            out["max_in_flight"] = self.max_in_flight
        if self.max_queue_size is not None:
            out["max_queue_size"] = self.max_queue_size
        return out


@dataclass
class GraphConfig:
    """A whole graph (or, with `type` set, a subgraph definition)."""

    nodes: list[NodeConfig] = field(default_factory=list)
    input_streams: dict[str, str] = field(default_factory=dict)
    output_streams: dict[str, str] = field(default_factory=dict)
    input_side_packets: dict[str, str] = field(default_factory=dict)
    max_queue_size: int | None = None
    num_workers: int | None = None
    type: str | None = None
    imports: tuple[str, ...] = ()
    source: str | None = None  # file it was read from, for error messages

    def __post_init__(self) -> None:
        self.input_streams = _names(self.input_streams, "input_streams")
        self.output_streams = _names(self.output_streams, "output_streams")
        self.input_side_packets = _names(self.input_side_packets, "input_side_packets")
        self.imports = tuple(self.imports)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GraphConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.type:
            out["type"] = self.type
        if self.imports:
            out["imports"] = list(self.imports)
        for key in ("input_streams", "output_streams", "input_side_packets"):
            value = getattr(self, key)
            if value:
                out[key] = list(value.values()) if all(k == v for k, v in value.items()) else dict(value)
        for key in ("max_queue_size", "num_workers"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["nodes"] = [n.to_dict() for n in self.nodes]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> GraphConfig:
        where = source or "graph config"
        if not isinstance(data, Mapping):
            raise GraphConfigError(f"{where}: the top level must be a mapping, got {type(data).__name__}")
        top = {f.name for f in fields(cls)} - {"source"}
        unknown = set(data) - top
        if unknown:
            raise GraphConfigError(f"{where}: unknown key(s) {sorted(unknown)}; valid keys: {sorted(top)}")
        raw_nodes = data.get("nodes") or []
        if not isinstance(raw_nodes, list):
            raise GraphConfigError(f"{where}: 'nodes' must be a list")
        node_keys = {f.name for f in fields(NodeConfig)}
        nodes = []
        for i, raw in enumerate(raw_nodes):
            label = f"{where}: node #{i + 1}"
            if not isinstance(raw, Mapping):
                raise GraphConfigError(f"{label}: must be a mapping, got {raw!r}")
            unknown = set(raw) - node_keys
            if unknown:
                raise GraphConfigError(
                    f"{label}: unknown key(s) {sorted(unknown)}; valid keys: {sorted(node_keys)}"
                )
            if "calculator" not in raw:
                raise GraphConfigError(f"{label}: missing 'calculator'")
            kwargs = dict(raw)
            if kwargs.get("options") is not None and not isinstance(kwargs["options"], Mapping):
                raise GraphConfigError(f"{label}: 'options' must be a mapping")
            try:
                nodes.append(NodeConfig(**kwargs))
            except GraphConfigError as exc:
                raise GraphConfigError(f"{where}: {exc}") from None
            except TypeError as exc:
                raise GraphConfigError(f"{label}: {exc}") from None
        kwargs = {k: v for k, v in data.items() if k != "nodes"}
        imports = kwargs.get("imports", ())
        if isinstance(imports, str):
            kwargs["imports"] = (imports,)
        try:
            return cls(nodes=nodes, source=source, **kwargs)
        except GraphConfigError as exc:
            raise GraphConfigError(f"{where}: {exc}") from None


def _load_toml(text: str, where: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise GraphConfigError(
                f"{where}: reading TOML needs Python >= 3.11 or `pip install tomli`; YAML and JSON work too"
            ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GraphConfigError(f"{where}: invalid TOML: {exc}") from None


def _load_yaml(text: str, where: str) -> Any:
    try:
        import yaml
    except ModuleNotFoundError:
        raise GraphConfigError(f"{where}: reading YAML needs PyYAML: pip install 'facepipe[graph]'") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GraphConfigError(f"{where}: invalid YAML: {exc}") from None


def parse_config(text: str, fmt: str, source: str | None = None) -> GraphConfig:
    """Parse config text in format "yaml", "toml" or "json"."""
    where = source or f"{fmt} graph config"
    fmt = fmt.lower().lstrip(".")
    if fmt in ("yaml", "yml"):
        data = _load_yaml(text, where)
    elif fmt == "toml":
        data = _load_toml(text, where)
    elif fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GraphConfigError(f"{where}: invalid JSON: {exc}") from None
    else:
        raise GraphConfigError(f"{where}: unknown config format {fmt!r} (use yaml, toml or json)")
    if data is None:
        raise GraphConfigError(f"{where}: the config is empty")
    return GraphConfig.from_dict(data, source=source)


def load_config(path: str | os.PathLike[str]) -> GraphConfig:
    """Read a graph config file; the format follows the extension (.yaml/.yml, .toml, .json)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphConfigError(f"{p}: graph config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphConfigError(f"{p}: cannot read graph config: {exc}") from None
    ext = p.suffix.lower().lstrip(".")
    if ext not in ("yaml", "yml", "toml", "json"):
        raise GraphConfigError(
            f"{p}: unknown graph config extension {p.suffix!r} (use .yaml, .toml or .json)"
        )
    return parse_config(text, ext, source=str(p))
