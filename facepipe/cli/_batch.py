"""Batch flags shared by commands that process folders: --ray, --resume, --retries."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from facepipe.cli._options import int_range


def add_batch_arguments(p: argparse.ArgumentParser, *, resume: bool = True) -> None:
    """resume: add --resume (a command whose output is its own record of what is done has no use for it)."""
    g = p.add_argument_group("batch runs (resumable; across a Ray cluster)")
    g.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="process files on Ray workers (pip install 'facepipe[ray]'): alone, a cluster on this machine;"
                        " 'auto' or HOST:PORT joins a running cluster." + (" Implies --resume." if resume else "")
                        + " Put it after the inputs")
    g.add_argument("--ray-workers", type=int_range(1, 100000), default=None, metavar="N",
                   help="Ray workers (default: all cores here, all CPUs of a cluster / --ray-threads)")
    g.add_argument("--ray-threads", type=int_range(1, 1024), default=1, metavar="N",
                   help="CPUs of each Ray worker, which are also its video threads")
    if resume:
        g.add_argument("--resume", action="store_true",
                       help="record finished files in OUTPUT/.facepipe-manifest.jsonl and skip them when run again")
    g.add_argument("--retries", type=int_range(0, 100), default=2, metavar="N",
                   help="with --ray" + ("/--resume" if resume else "")
                        + ": attempts after a file's first failure before it is reported")


def wants_batch(args: argparse.Namespace) -> bool:
    return args.ray is not None or getattr(args, "resume", False)


def check_camera_run(args: argparse.Namespace, files: Any) -> None:
    """A camera run (--camera N) takes no input files and no --ray/--resume."""
    from facepipe.errors import UsageError

    if files:
        raise UsageError("--camera reads a camera: give no input files with it")
    if wants_batch(args):
        raise UsageError("--ray and --resume take files and folders, not a camera")


def run_batch_with_progress(args: argparse.Namespace, task: Any, items: list[Any], record: Any) -> Any:
    """run_batch with the command's batch flags, printing a line per finished file; the BatchSummary."""
    from facepipe.apps.batch import BatchOptions, run_batch

    # One line per finished file (not a bar: results arrive from many workers), unless -q or --no-progress.
    quiet = getattr(args, "quiet", False) or getattr(args, "progress", None) is False
    total = len(items)

    def on_result(result: Any, summary: Any) -> None:
        if quiet:
            return
        n = len(summary.done) + len(summary.failed) + len(summary.skipped)
        fps = summary.frames / summary.seconds if summary.seconds > 0 else 0.0
        what = f"{result.frames} frames, {result.faces} faces" if result.ok else "FAILED"
        sys.stderr.write(f"[{n}/{total}] {result.input}: {what} ({result.worker or 'here'});"
                         f" all: {summary.frames} frames, {fps:.1f} frames/s\n")

    options = BatchOptions(ray=args.ray, workers=args.ray_workers, threads=args.ray_threads, retries=args.retries)
    return run_batch(task, items, record, options, on_result=on_result)


def report_summary(summary: Any, plan: Any) -> int:
    """Print the summary (inputs the plan refused count as failed); 1 if any file failed."""
    summary.failed[:0] = plan.rejected
    sys.stderr.write(summary.describe() + "\n")
    return 0 if summary.ok else 1


def run_batch_command(args: argparse.Namespace, task: Any, plan: Any) -> int:
    """Run the plan, print a line per finished file and the summary; 1 if any file failed."""
    return report_summary(run_batch_with_progress(args, task, plan.items, plan.manifest_dir), plan)
