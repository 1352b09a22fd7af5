"""Write docs/cli.md from the command-line parser: every command, its options with their
defaults and ranges, the shared vocabulary and the exit codes. tests/test_cli_docs.py fails
when the file is stale: then run `python tools/cli_docs.py`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facepipe.cli.main import COMMAND_GROUPS, COMMANDS, EXIT_CODES, build_parser

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

_HEADER = """\
# facepipe command line

Generated from the parser by `python tools/cli_docs.py`; do not edit by hand (a test checks that
this file is current).

## One vocabulary

Every command that shares a job spells it the same way:

| flag | meaning |
|---|---|
| `-o/--output` | output file or folder |
| `-f/--format` | output format (json, csv, npz), else from the output's extension |
| `-r/--recursive` | folders: include subfolders |
| `--progress/--no-progress` | progress bar on stderr (default: when stderr is a terminal) |
| `--camera N` | read camera device N instead of files |
| `--max-num-faces N` | most faces per image/frame (MediaPipe's name) |
| `--min-detection-confidence F` | detector score threshold, 0..1 (MediaPipe's name) |
| `--min-tracking-confidence F` | tracking threshold, 0..1 (MediaPipe's name) |
| `--max-frames N` | videos and cameras: stop after N frames |
| `--num-threads N` | threads per model interpreter and OpenCV operation (default: FACEPIPE_NUM_THREADS, else 1) |
| `-q/-v` | only errors / more logging; before or after the command |

Old spellings (`--num-faces`, `--max-faces`, `--max-hands`, `--min-score`, `--thresh`, a camera
given as the input `cam`/`cam:N`) still work for one release, with a deprecation warning; they
are not listed below. Every range is checked once, by the parser: a value out of range is a usage
error (exit status 2) whose message gives the range.

JSON results of every command follow one schema: see [json-schema.md](json-schema.md).
"""


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.help != argparse.SUPPRESS
            and not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _flag(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest.upper()}`"
    names = "/".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    meta = action.metavar or (f"{{{','.join(map(str, action.choices))}}}" if action.choices else action.dest.upper())
    return f"`{names} {meta}`"


def _default(action: argparse.Action) -> str:
    d = action.default
    if d is None or d is argparse.SUPPRESS or action.nargs == 0 or isinstance(d, bool):
        return ""
    return f"`{d}`"


def _help(action: argparse.Action) -> str:
    # Python 3.10-3.12's BooleanOptionalAction appends this to the help; the table has a default column.
    return (action.help or "").replace(" (default: %(default)s)", "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section(name: str, parser: argparse.ArgumentParser, level: str) -> list[str]:
    out = [f"{level} `{name}`", ""]
    if parser.description:
        out += [parser.description.strip(), ""]
    out += ["```", parser.format_usage().strip().replace("usage: ", ""), "```", ""]
    rows = [a for a in _actions(parser) if a.dest not in ("verbose", "quiet")]
    if rows:
        out += ["| argument | default | range | meaning |", "|---|---|---|---|"]
        out += [f"| {_cell(_flag(a))} | {_cell(_default(a))} | {getattr(a.type, 'range', '')} | {_cell(_help(a))} |"
                for a in rows]
        out.append("")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                out += _section(f"{name} {sub_name}", sub, level + "#")
    return out


def cli_markdown() -> str:
    import os

    os.environ["COLUMNS"] = "100"  # usage lines wrap the same on every terminal
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = [_HEADER, "## Exit status", "", "| status | meaning |", "|---|---|"]
    lines += [f"| {code} | {what} |" for code, what in EXIT_CODES]
    lines += [""]
    titles = {m: t for t, modules in COMMAND_GROUPS.items() for m in modules}
    groups: dict[str, list[str]] = {}
    for name, p in sub.choices.items():
        if p.get_default("_module") in COMMANDS:
            groups.setdefault(titles.get(p.get_default("_module"), "more commands"), []).append(name)
    for title in [*COMMAND_GROUPS, "more commands"]:
        names = list(dict.fromkeys(groups.get(title, [])))
        if names:
            lines += [f"## {title[0].upper()}{title[1:]}", ""]
            for n in names:
                lines += _section(n, sub.choices[n], "###")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    DOC.write_text(cli_markdown())
    sys.stdout.write(f"wrote {DOC}\n")
