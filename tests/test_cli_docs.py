"""docs/cli.md is generated from the parser and must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_TOOL = Path(__file__).resolve().parents[1] / "tools" / "cli_docs.py"
_spec = importlib.util.spec_from_file_location("cli_docs", _TOOL)
cli_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli_docs)
cli_markdown, DOC = cli_docs.cli_markdown, cli_docs.DOC


def test_cli_docs_are_current():
    assert DOC.read_text() == cli_markdown(), "docs/cli.md is stale: run `python tools/cli_docs.py`"


def test_cli_docs_show_one_vocabulary():
    text = cli_markdown()
    for flag in ("--max-num-faces", "--min-detection-confidence", "--min-tracking-confidence", "--camera N",
                 "--progress/--no-progress", "-r/--recursive", "--num-threads N"):
        assert flag in text
    for old in ("--num-faces", "--max-faces", "--min-score", "--thresh", "--max-hands"):
        assert f"| `{old} " not in text and f"| `{old}`" not in text  # hidden aliases: not in any table
