"""The custom-calculator example in docs/graph.md runs as written (so it cannot rot)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest
from conftest import REPO, model_path
from conftest import testdata_file as data_file

from facepipe.graph import Graph, parse_config

DOC = REPO / "docs" / "graph.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_docs_example_runs_and_its_config_file_is_the_same_graph(tmp_path, monkeypatch, capsys):
    pytest.importorskip("av")
    model_path("face_detection_full_range_sparse")
    video = data_file("videos/fr_short_hamilton_clip.mp4")
    monkeypatch.chdir(tmp_path)
    Path("input.mp4").symlink_to(video)

    module = types.ModuleType("docs_graph_example")  # dataclasses need their module in sys.modules
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(_blocks("python")[0], str(DOC), "exec"), module.__dict__)  # noqa: S102 - our own documentation
    namespace = module.__dict__

    from facepipe.io.video import VideoReader

    with VideoReader("boxes.mp4") as reader:
        assert sum(1 for _ in reader) == 50
    found = namespace["found"]["faces"]
    assert len(found) == 50 and sum(len(p.payload) for p in found) > 0
    assert "HardNmsCalculator" in capsys.readouterr().out  # the profile table was printed

    # The YAML in the doc describes exactly the graph the Python code built, and gives the same faces.
    graph = Graph(parse_config(_blocks("yaml")[0], "yaml"))
    assert graph.topology() == namespace["graph"].topology()
    again = graph.run(side_packets={"input": "input.mp4", "output": "boxes2.mp4"}, collect=["faces"])
    assert [len(p.payload) for p in again["faces"]] == [len(p.payload) for p in found]


def test_readme_carries_the_same_example():
    """The README's custom-calculator example is the one executed above, word for word."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert _blocks("python")[0] in blocks
