"""`facepipe` command line: one subcommand module per job.

Each module in COMMANDS exposes `register(subparsers)`; the parser it adds
sets `func(args) -> int`. Exit codes: 0 ok, 1 processing failure, 2 usage
error (argparse's own convention).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from facepipe._version import __version__
from facepipe.cli._help import HelpFormatter
from facepipe.errors import FacepipeError

log = logging.getLogger("facepipe")

# Order here is the order in `facepipe --help`.
COMMANDS = (
    "facepipe.cli.cmd_analyze",
    "facepipe.cli.cmd_anonymize",
    "facepipe.cli.cmd_detect",
    "facepipe.cli.cmd_mesh",
    "facepipe.cli.cmd_landmarks",
    "facepipe.cli.cmd_body",
    "facepipe.cli.cmd_stream",
    "facepipe.cli.cmd_models",
    "facepipe.cli.cmd_search",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facepipe",
        description="MediaPipe-class face, hand and body perception on the official models.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"facepipe {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except FacepipeError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
