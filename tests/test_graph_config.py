"""Graph framework: config files, validation errors, subgraphs, registry."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pytest

from facepipe.graph import (
    Calculator,
    CalculatorRegistry,
    Graph,
    GraphBuilder,
    GraphConfig,
    GraphConfigError,
    Packet,
    Subgraph,
    load_config,
    parse_config,
)

TIMEOUT = 20.0

# A registry of our own keeps the test calculators out of the global one.
REG = CalculatorRegistry(autoload=())


@REG.register
class AddConst(Calculator):
    inputs = ("IN",)
    outputs = ("OUT",)

    @dataclass(frozen=True)
    class Options:
        value: int = 1
        pad: tuple[int, ...] = ()

    def process(self, ctx):
        ctx.outputs.add("OUT", ctx.input("IN") + ctx.options.value + sum(ctx.options.pad))


@REG.register
class Join(Calculator):
    inputs = ("A", "B")
    outputs = ("SUM",)

    def process(self, ctx):
        ctx.outputs.add("SUM", (ctx.input("A") or 0) + (ctx.input("B") or 0))


@REG.register
class AddTwice(Subgraph):
    """IN -> +a -> +b -> OUT, and the intermediate value on MID."""

    inputs = ("IN",)
    outputs = ("OUT", "MID")

    @dataclass(frozen=True)
    class Options:
        a: int = 1
        b: int = 10

    def expand(self, options):
        b = GraphBuilder()
        b.input_stream("in", tag="IN")
        b.output_stream("out", tag="OUT")
        b.output_stream("mid", tag="MID")
        b.add_node("AddConst", name="first", inputs="in", outputs="mid", options={"value": options.a})
        b.add_node("AddConst", name="second", inputs="mid", outputs="out", options={"value": options.b})
        return b.config


YAML = """
input_streams: [x]
output_streams: [total]
max_queue_size: 4
nodes:
  - calculator: AddConst
    name: plus1
    inputs: x
    outputs: {OUT: y}
    options: {value: 1, pad: [2, 3]}
  - calculator: AddConst
    name: plus100
    inputs: ["IN:x"]
    outputs: ["OUT:z"]
    options: {value: 100}
  - calculator: Join
    inputs: {A: y, B: z}
    outputs: {SUM: total}
"""

TOML = """
input_streams = ["x"]
output_streams = ["total"]
max_queue_size = 4

[[nodes]]
calculator = "AddConst"
name = "plus1"
inputs = "x"
outputs = { OUT = "y" }
options = { value = 1, pad = [2, 3] }

[[nodes]]
calculator = "AddConst"
name = "plus100"
inputs = ["IN:x"]
outputs = ["OUT:z"]
options = { value = 100 }

[[nodes]]
calculator = "Join"
inputs = { A = "y", B = "z" }
outputs = { SUM = "total" }
"""


def python_built() -> Graph:
    b = GraphBuilder(max_queue_size=4)
    b.input_stream("x")
    b.output_stream("total")
    b.add_node(AddConst, name="plus1", inputs="x", outputs={"OUT": "y"}, options=AddConst.Options(1, (2, 3)))
    b.add_node(AddConst, name="plus100", inputs={"IN": "x"}, outputs={"OUT": "z"}, options={"value": 100})
    b.add_node(Join, inputs={"A": "y", "B": "z"}, outputs={"SUM": "total"})
    return b.build(registry=REG)


def run_values(graph: Graph, n: int = 6) -> list[tuple[int, int]]:
    out = graph.run({"x": [Packet(i, i) for i in range(n)]}, collect=["total"], timeout=TIMEOUT)
    return [(p.timestamp, p.payload) for p in out["total"]]


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_config_file_graph_equals_python_built(tmp_path, fmt):
    if fmt == "toml" and sys.version_info < (3, 11):
        pytest.importorskip("tomli", reason="TOML configs on Python 3.10 need tomli")
    reference = python_built()
    if fmt == "json":
        import yaml

        text = json.dumps(yaml.safe_load(YAML))
    else:
        text = {"yaml": YAML, "toml": TOML}[fmt]
    path = tmp_path / f"graph.{fmt}"
    path.write_text(text)
    from_file = Graph(path, registry=REG)
    assert from_file.topology() == reference.topology()
    assert [n.options for n in from_file.nodes] == [n.options for n in reference.nodes]
    assert from_file.max_queue_size == reference.max_queue_size == 4
    expected = [(i, (i + 6) + (i + 100)) for i in range(6)]
    assert run_values(from_file) == run_values(reference) == expected


def test_config_round_trips_through_dict():
    config = parse_config(YAML, "yaml")
    again = GraphConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert Graph(again, registry=REG).topology() == Graph(config, registry=REG).topology()


def test_python_subgraph_expands_with_prefixed_names():
    b = GraphBuilder()
    b.input_stream("x")
    b.add_node("AddTwice", name="p", inputs={"IN": "x"}, outputs={"OUT": "y"}, options={"a": 1, "b": 10})
    b.add_node("AddTwice", name="q", inputs={"IN": "y"}, outputs={"OUT": "z", "MID": "qmid"},
               options={"a": 100, "b": 1000})
    graph = b.build(registry=REG)
    assert [n.name for n in graph.nodes] == ["p/first", "p/second", "q/first", "q/second"]
    # Internal streams of p are prefixed; q's MID is bound to the outer name.
    assert graph.nodes[0].outputs == {"OUT": "p/mid"}
    assert graph.nodes[2].outputs == {"OUT": "qmid"}
    out = graph.run({"x": [Packet(i, i) for i in range(4)]}, collect=["z", "qmid"], timeout=TIMEOUT)
    assert [p.payload for p in out["z"]] == [i + 1111 for i in range(4)]
    assert [p.payload for p in out["qmid"]] == [i + 111 for i in range(4)]


def test_config_subgraph_from_file(tmp_path):
    reg = CalculatorRegistry(autoload=())
    reg.register(AddConst)
    sub = tmp_path / "plus_two.yaml"
    sub.write_text(
        "type: PlusTwo\n"
        "input_streams: {IN: value}\n"
        "output_streams: {OUT: result}\n"
        "nodes:\n"
        "  - {calculator: AddConst, inputs: value, outputs: {OUT: mid}}\n"
        "  - {calculator: AddConst, inputs: mid, outputs: {OUT: result}}\n"
    )
    reg.register_file(str(sub))
    main = tmp_path / "main.yaml"
    main.write_text(
        "input_streams: [x]\n"
        "nodes:\n"
        "  - {calculator: PlusTwo, name: twice, inputs: {IN: x}, outputs: {OUT: y}}\n"
    )
    graph = Graph(main, registry=reg)
    assert [n.name for n in graph.nodes] == ["twice/AddConst", "twice/AddConst_2"]
    out = graph.run({"x": [Packet(5, 0)]}, collect=["y"], timeout=TIMEOUT)
    assert [p.payload for p in out["y"]] == [7]


def test_dotted_path_calculator_and_imports(tmp_path):
    graph = Graph({
        "input_streams": ["x"],
        "nodes": [{"calculator": "tests.test_graph_config:AddConst", "inputs": "x", "outputs": {"OUT": "y"}}],
    }, registry=CalculatorRegistry(autoload=()))
    out = graph.run({"x": [Packet(1, 0)]}, collect=["y"], timeout=TIMEOUT)
    assert out["y"][0].payload == 2


def build_error(nodes, inputs=("x",), **extra) -> str:
    with pytest.raises(GraphConfigError) as info:
        Graph({"input_streams": list(inputs), "nodes": nodes, **extra}, registry=REG)
    return str(info.value)


def test_validation_errors_are_clear():
    msg = build_error([{"calculator": "AddConst", "inputs": "xx", "outputs": {"OUT": "y"}}])
    assert "'xx'" in msg and "no node produces" in msg and "did you mean x" in msg

    msg = build_error([
        {"calculator": "AddConst", "name": "a", "inputs": "x", "outputs": {"OUT": "y"}},
        {"calculator": "AddConst", "name": "b", "inputs": "x", "outputs": {"OUT": "y"}},
    ])
    assert "'y' has two producers" in msg and "'a'" in msg and "'b'" in msg

    msg = build_error([
        {"calculator": "Join", "name": "j", "inputs": {"A": "x", "B": "w"}, "outputs": {"SUM": "v"}},
        {"calculator": "AddConst", "name": "k", "inputs": "v", "outputs": {"OUT": "w"}},
    ])
    assert "cycle" in msg and ("j -> k -> j" in msg or "k -> j -> k" in msg) and "back_edges" in msg

    msg = build_error([{"calculator": "AddKonst", "inputs": "x"}])
    assert "unknown calculator 'AddKonst'" in msg and "AddConst" in msg

    msg = build_error([{"calculator": "AddConst", "inputs": "x", "options": {"valeu": 3}}])
    assert "valeu" in msg and "value" in msg

    msg = build_error([{"calculator": "Join", "name": "j", "inputs": {"A": "x"}}])
    assert "'B'" in msg and "not connected" in msg

    msg = build_error([{"calculator": "AddConst", "inputs": {"IMAGE": "x"}}])
    assert "no input 'IMAGE'" in msg

    msg = build_error([{"calculator": "Join", "inputs": "x"}])
    assert "without a tag" in msg

    msg = build_error([], output_streams=["nowhere"])
    assert "'nowhere'" in msg

    with pytest.raises(GraphConfigError, match="unknown key.*nodez"):
        Graph({"nodez": []})


def test_cycle_with_back_edge_is_accepted():
    Graph({
        "input_streams": ["x"],
        "nodes": [
            {"calculator": "Join", "name": "j", "inputs": {"A": "x", "B": "w"}, "back_edges": ["B"],
             "outputs": {"SUM": "v"}},
            {"calculator": "AddConst", "name": "k", "inputs": "v", "outputs": {"OUT": "w"}},
        ],
    }, registry=REG)


def test_bad_files_name_the_file(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("nodes: [\n")
    with pytest.raises(GraphConfigError, match=r"broken\.yaml.*invalid YAML"):
        load_config(bad)
    with pytest.raises(GraphConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    odd = tmp_path / "graph.ini"
    odd.write_text("x")
    with pytest.raises(GraphConfigError, match="extension"):
        load_config(odd)
    unknown = tmp_path / "g.json"
    unknown.write_text(json.dumps({"input_streams": ["x"], "nodes": [{"calculator": "Nope", "inputs": "x"}]}))
    with pytest.raises(GraphConfigError, match=r"g\.json.*unknown calculator 'Nope'"):
        Graph(unknown, registry=REG)


def test_calculators_are_found_through_entry_points_and_the_framework_names_no_app():
    """A fresh interpreter resolves the anonymizer's calculators by name: the registry imports the
    modules of the `facepipe.calculators` entry points (pyproject.toml), not a list of app names."""
    import subprocess
    from pathlib import Path

    code = ("import sys; from facepipe.graph import default_registry as r; "
            "print(r.lookup('RedactCalculator').__module__, r.lookup('FaceDetectorCalculator').__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["facepipe.apps.anonymize.calculators", "facepipe.calculators.detection"]
    graph_dir = Path(__file__).resolve().parents[1] / "facepipe" / "graph"
    for src in graph_dir.glob("*.py"):
        assert "facepipe.apps" not in src.read_text(encoding="utf-8"), src
    # A registry without autoload knows only what was registered into it.
    with pytest.raises(GraphConfigError, match="unknown calculator 'RedactCalculator'"):
        CalculatorRegistry(autoload=()).lookup("RedactCalculator")
