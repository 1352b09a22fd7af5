"""Option types and flags shared by every `facepipe` command: one vocabulary, each range checked once.

A value out of range is a usage error reported by argparse itself (exit status 2), with the
range in the message: `argument --crf: must be an integer in 0..51, got 99`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["float_range", "int_range"]


def _span(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"in {lo}..{hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"


def int_range(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """argparse type: an integer within [lo, hi] (None: unbounded on that side)."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {_span(lo, hi)}, got {text!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be an integer {_span(lo, hi)}, got {text}")
        return v

    parse.__name__ = "integer"
    parse.range = _span(lo, hi).removeprefix("in ")  # type: ignore[attr-defined]  # shown in docs/cli.md
    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, above: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number within [lo, hi]; above=True excludes lo itself (> lo)."""
    def parse(text: str) -> float:
        what = f"> {lo}" + (f" and <= {hi}" if hi is not None else "") if above else _span(lo, hi)
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number {what}, got {text!r}") from None
        if (not math.isfinite(v) or (lo is not None and (v <= lo if above else v < lo))
                or (hi is not None and v > hi)):
            raise argparse.ArgumentTypeError(f"must be a number {what}, got {text}")
        return v

    parse.__name__ = "number"
    parse.range = (f"> {lo}" + (f" and <= {hi}" if hi is not None else "") if above  # type: ignore[attr-defined]
                   else _span(lo, hi).removeprefix("in "))
    return parse


# --------------------------------------------------------------------------- the shared vocabulary

PROBABILITY = float_range(0.0, 1.0)
POSITIVE = float_range(0.0, above=True)


class _OldSpelling(argparse.Action):
    """A hidden alias kept for one release: stores like the new flag and notes a deprecation."""

    def __init__(self, option_strings, dest, new: str = "", **kw) -> None:
        self.new = new
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, True if self.nargs == 0 else values)
        notes = getattr(namespace, "deprecated_options", None) or []
        notes.append(f"{option_string} is deprecated and will be removed after this release; use {self.new}")
        namespace.deprecated_options = notes


def old_spelling(parser: argparse.ArgumentParser, *names: str, new: str, dest: str, flag: bool = False,
                 type: Callable[[str], object] | None = None) -> None:
    """Accept `names` as hidden aliases of option `new` (stored in `dest`)."""
    kw: dict = {"nargs": 0} if flag else {"type": type}
    parser.add_argument(*names, dest=dest, action=_OldSpelling, new=new, help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS, **kw)


def add_max_num_faces(parser: argparse.ArgumentParser, default: int, what: str = "most faces per image/frame",
                      old: tuple[str, ...] = ()) -> None:
    parser.add_argument("--max-num-faces", type=int_range(1), default=default, help=what)
    if old:
        old_spelling(parser, *old, new="--max-num-faces", dest="max_num_faces", type=int_range(1))


def add_confidences(parser: argparse.ArgumentParser, detection: float | None = 0.5, tracking: float | None = None,
                    detection_help: str = "face detector score threshold",
                    tracking_help: str = "video: landmark presence threshold while tracking",
                    old_detection: tuple[str, ...] = ()) -> None:
    parser.add_argument("--min-detection-confidence", type=PROBABILITY, default=detection, help=detection_help)
    if old_detection:
        old_spelling(parser, *old_detection, new="--min-detection-confidence", dest="min_detection_confidence",
                     type=PROBABILITY)
    if tracking is not None:
        parser.add_argument("--min-tracking-confidence", type=PROBABILITY, default=tracking, help=tracking_help)


def add_recursive(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-r", "--recursive", action="store_true", help="folders: include subfolders")


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal)")


_OLD_PROGRESS_VALUES = {"on": "--progress", "off": "--no-progress", "auto": None}


def rewrite_old_progress_values(argv: Sequence) -> tuple[list, list[str]]:
    """The old `--progress on|off|auto` value form (analyze, before the one vocabulary), kept for one
    release: rewritten to `--progress` / `--no-progress` / the default, with a deprecation note each."""
    out: list = []
    notes: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg == "--progress" and i + 1 < len(argv) and str(argv[i + 1]) in _OLD_PROGRESS_VALUES:
            value, i = str(argv[i + 1]), i + 1
        elif isinstance(arg, str) and arg.startswith("--progress=") and arg.partition("=")[2] in _OLD_PROGRESS_VALUES:
            value = arg.partition("=")[2]
        if value is None:
            out.append(arg)
        else:
            new = _OLD_PROGRESS_VALUES[value]
            out.extend([new] if new else [])
            notes.append(f"--progress {value} is deprecated and will be removed after this release; "
                         f"use {new or 'neither flag (the default)'}")
        i += 1
    return out, notes


def add_max_frames(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-frames", type=int_range(1), default=None,
                        help="videos and cameras: stop after this many frames")


def add_camera(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--camera", type=int_range(0), default=None, metavar="N",
                        help="read camera device N instead of files (stop with Ctrl-C or --max-frames)")


def add_num_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num-threads", type=int_range(1), default=None, metavar="N",
                        help="threads per model interpreter and per OpenCV operation (default: FACEPIPE_NUM_THREADS,"
                             " else 1: the pipelines run frames in parallel themselves)")


def runtime_options(args: argparse.Namespace):
    """The RuntimeOptions of --num-threads, handed to every model a command builds."""
    from facepipe.runtime.options import RuntimeOptions

    return RuntimeOptions(num_threads=getattr(args, "num_threads", None))


def solution_options(factory: Callable[..., Any], args: argparse.Namespace, **kw: Any) -> Any:
    """factory(**kw), the options dataclass of a solution, with --num-threads' runtime; a value it
    refuses is a usage error (the dataclass says the range)."""
    from facepipe.errors import UsageError

    try:
        return factory(runtime=runtime_options(args), **kw)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def show_progress(args: argparse.Namespace) -> bool:
    """--progress/--no-progress, else on unless -q."""
    return args.progress if args.progress is not None else not args.quiet


def add_workers(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--workers", type=int_range(1), default=None,
                        help="videos: threads of the processing graph (default: all cores); 1 processes one frame"
                             " after another without the graph")


def execution_options(args: argparse.Namespace):
    """The jobs.ExecutionOptions that --workers asks for."""
    from facepipe.jobs import ExecutionOptions

    return ExecutionOptions(workers=args.workers)


def add_media_input(parser: argparse.ArgumentParser, what: str = "image or video file") -> None:
    """The INPUT positional of a one-input command, optional when --camera N is given."""
    parser.add_argument("input", type=Path, nargs="?", help=f"{what} (or --camera N)")
    add_camera(parser)


def open_input(args: argparse.Namespace):
    """The frames of INPUT or of --camera N (a jobs.MediaSource); a usage error if neither or both."""
    from facepipe.errors import UsageError
    from facepipe.jobs import open_camera, open_media

    camera = getattr(args, "camera", None)
    max_frames = getattr(args, "max_frames", None)
    if camera is not None and args.input is not None:
        raise UsageError(f"--camera reads camera {camera}: give no input file with it")
    if camera is not None:
        return open_camera(camera, max_frames=max_frames)
    if args.input is None:
        raise UsageError("no input: give an image or video file, or --camera N")
    return open_media(args.input, max_frames=max_frames)
