"""`facepipe` command line: one subcommand module per job.

Each module in COMMANDS exposes `register(subparsers)`; the parser it adds
sets `func(args) -> int`. Exit codes: 0 ok, 1 processing failure, 2 usage
error (argparse's own convention), 130 interrupted (Ctrl-C). -q/-v work before or
after the subcommand. Errors are printed as one line, never as a traceback
(-vv adds the traceback for debugging).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from facepipe._version import __version__
from facepipe.cli._help import HelpFormatter
from facepipe.cli._options import rewrite_old_progress_values
from facepipe.cli._stderr import filtered_native_stderr
from facepipe.errors import FacepipeError

log = logging.getLogger("facepipe")

# Order here is the order in `facepipe --help`; a new command is one line here.
COMMANDS = (
    "facepipe.cli.cmd_analyze",
    "facepipe.cli.cmd_anonymize",
    "facepipe.cli.cmd_gui",
    "facepipe.cli.cmd_detect",
    "facepipe.cli.cmd_mesh",
    "facepipe.cli.cmd_landmarks",
    "facepipe.cli.cmd_body",
    "facepipe.cli.cmd_stream",
    "facepipe.cli.cmd_search",
    "facepipe.cli.cmd_faces",
    "facepipe.cli.cmd_models",
    "facepipe.cli.cmd_train",
)
# `facepipe --help` lists the commands under the job they do; a command not named here is listed
# under "more commands".
COMMAND_GROUPS = {
    "process photos and videos": ("facepipe.cli.cmd_analyze", "facepipe.cli.cmd_anonymize", "facepipe.cli.cmd_gui"),
    "face data as JSON/CSV/NPZ": ("facepipe.cli.cmd_detect", "facepipe.cli.cmd_mesh", "facepipe.cli.cmd_landmarks"),
    "hands, body and segmentation": ("facepipe.cli.cmd_body",),
    "live streams": ("facepipe.cli.cmd_stream",),
    "find and recognize": ("facepipe.cli.cmd_search", "facepipe.cli.cmd_faces"),
    "models": ("facepipe.cli.cmd_models",),
    "train your own models": ("facepipe.cli.cmd_train",),
}

EXIT_CODES = (
    (0, "success"),
    (1, "processing failure: an input could not be read or processed (the others are still done),"
        " a model is missing, or an output could not be written"),
    (2, "usage error: unknown option, value out of range, contradicting options"),
    (130, "interrupted (Ctrl-C); nothing half-written is left"),
)


def _add_verbosity(parser: argparse.ArgumentParser, top: bool) -> None:
    # On the subcommands the defaults are SUPPRESS, so `-v` before the subcommand is not reset after it.
    default = {} if top else {"default": argparse.SUPPRESS}
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="count", help="more logging (-vv for debug)",
                       **({"default": 0} if top else default))
    group.add_argument("-q", "--quiet", action="store_true", help="only errors",
                       **({"default": False} if top else default))


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                found += [sub, *_subparsers(sub)]
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facepipe",
        description="MediaPipe-class face, hand and body perception on the official models.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"facepipe {__version__}")
    _add_verbosity(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="one of the commands below")
    sub.required = True
    listed = sub._choices_actions
    rows: dict[str, list[str]] = {title: [] for title in COMMAND_GROUPS}
    for name in COMMANDS:
        before = len(listed)
        importlib.import_module(name).register(sub)
        title = next((t for t, modules in COMMAND_GROUPS.items() if name in modules), "more commands")
        for a in listed[before:]:
            sub.choices[a.dest].set_defaults(_module=name)  # docs/cli.md groups by it
        rows.setdefault(title, []).extend(_row(a.dest, a.help or "", 14) for a in listed[before:])
    lines = [line for title, group in rows.items() if group for line in ("", f"{title}:", *group)]
    sub._choices_actions = []  # argparse's flat list is replaced by the grouped one
    parser.epilog = "\n".join(lines).lstrip("\n") + "\n\nexit status:\n" + "\n".join(
        _row(str(code), what, 7) for code, what in EXIT_CODES
    ) + "\n\nRun `facepipe COMMAND --help` for a command's options."
    for p in _subparsers(parser):
        _add_verbosity(p, top=False)
    return parser


def _row(name: str, text: str, indent: int) -> str:
    """A two-column help row, wrapped to 76 columns under its own text column."""
    return textwrap.fill(text, 76, initial_indent=f"  {name:<{indent - 3}} ", subsequent_indent=" " * indent)


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    logging.getLogger().setLevel(level)  # also when logging was set up before (main() called again)
    logging.captureWarnings(True)  # library warnings (e.g. Pillow's) go through logging, and -q hides them


@contextmanager
def _opencv_threads(n: int | None) -> Iterator[None]:
    """OpenCV's own thread pool at `n` threads (None: FACEPIPE_NUM_THREADS, else 1), as the model
    interpreters (`runtime.model.default_num_threads`), for the command's run; restored after.

    facepipe's pipelines already keep every core busy with frames in flight, and OpenCV's
    default pool (one thread per core) then only adds hand-overs: on this 2-core machine YuNet
    on a 144x144 crop takes 2.4 ms with 2 OpenCV threads and 1.5 ms with 1, and a whole 720p
    anonymize run is 3-4 % faster (benchmarks/RESULTS.md). Set at the edge, not in the library:
    a program that imports facepipe keeps its own OpenCV settings.
    """
    import cv2

    from facepipe.runtime.model import default_num_threads

    before = cv2.getNumThreads()
    cv2.setNumThreads(default_num_threads() if n is None else n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv, old_values = rewrite_old_progress_values(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    for note in [*old_values, *(getattr(args, "deprecated_options", None) or ())]:
        log.warning("%s", note)
    try:
        with (filtered_native_stderr(enabled=args.verbose < 2), warnings.catch_warnings(),
              _opencv_threads(getattr(args, "num_threads", None))):
            return int(args.func(args) or 0)
    except FacepipeError as exc:
        log.error("%s", exc, exc_info=args.verbose >= 2)
        return exc.exit_code
    except OSError as exc:  # a file system refusal that no command turned into a FacepipeError
        where = f"{exc.filename}: " if exc.filename else ""
        log.error("%s%s", where, exc.strerror or exc, exc_info=args.verbose >= 2)
        return 1
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug still reaches the user as one line
        log.error("internal error: %s: %s (-vv shows where; please report it)", type(exc).__name__, exc,
                  exc_info=args.verbose >= 2)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
