"""The layering of docs/architecture.md, checked on the source: lower layers never import higher
ones (module-level, lazy and type-only imports alike: each is a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import facepipe

PACKAGE = Path(facepipe.__file__).parent

# Bottom to top (docs/architecture.md). Equal ranks are peers; a module may import its own rank
# and below. graph sits under calculators (the framework names no node it runs), draw under the
# apps (apps draw; drawing knows no app).
RANKS = {
    "_version": 0, "errors": 0, "_fsutil": 0, "results": 0,
    "runtime": 1, "io": 1,
    "stages": 2,
    "solutions": 3,
    "graph": 4,
    "calculators": 5,
    "jobs": 6,
    "draw": 7,
    "apps": 8, "compat": 8,
    "cli": 9, "gui": 9,  # the edges: the desktop app reads its settings through the CLI's parser
    "__main__": 10, "": 10,  # `facepipe` itself: the lazy facade of the public names
}
_FACADE = {**facepipe._EXPORTS, "__version__": "facepipe._version"}
# The one documented exception: the result types share the NMS kernels with the stages.
ALLOWED = {("facepipe.results", "facepipe.stages.nms")}


def _module_name(path: Path) -> str:
    parts = ("facepipe", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """The facepipe modules `path` imports; `from facepipe import Name` resolves through the facade."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base == "facepipe":
                found.update(_FACADE.get(a.name) or f"facepipe.{a.name}" for a in node.names)
            else:
                found.add(base)
    return {name for name in found if name == "facepipe" or name.startswith("facepipe.")}


def _layer(module: str) -> str:
    parts = module.split(".")
    return "" if len(parts) == 1 else parts[1]


def test_every_module_is_in_a_layer():
    layers = {_layer(_module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert layers - set(RANKS) == set(), "a new top-level module or package: give it a rank in RANKS"


def test_lower_layers_never_import_higher_ones():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for target in _imports(path, module):
            if RANKS[_layer(target)] > RANKS[_layer(module)] and (module, target) not in ALLOWED:
                upward.append(f"{module} imports {target}")
    assert upward == []


def test_the_check_sees_lazy_relative_and_facade_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from facepipe import FaceDetector\n    from .apps import analyze\n")
    assert _imports(probe, "facepipe.graph.probe") == {"facepipe.solutions.face_detection", "facepipe.graph.apps"}
    # The registry loads calculator modules by entry point, never by naming them.
    assert {_layer(m) for m in _imports(PACKAGE / "graph" / "registry.py", "facepipe.graph.registry")} <= {
        "graph", "errors"}
