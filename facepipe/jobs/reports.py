"""Per-file reports and the loop that runs a job over many files.

    reports = run_each(inputs, process_one, on_done=print_line)   # process_one(item) -> FileReport

A file that fails gets a report with its one-line error and the others carry on; a missing
model (ModelError) fails every file alike, so it stops the run; Ctrl-C stops it too (the file
being written is discarded by its writer). `graph_error(path, exc)` turns a failed graph run
into the error a sequential run of the same stages gives.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from facepipe.errors import FacepipeError, ModelError, ProcessingError

log = logging.getLogger(__name__)

__all__ = ["FileReport", "RunSummary", "graph_error", "run_each"]

T = TypeVar("T")


@dataclass
class FileReport:
    """What happened to one input. kind: "image", "video" or "camera". error: None when done."""

    input: Path
    kind: str
    outputs: list[Path] = field(default_factory=list)
    error: str | None = None
    frames: int = 0
    faces: int = 0  # distinct faces (tracks) for videos, faces for images
    regions: int = 0  # regions processed, summed over frames (the anonymizer's redactions)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def output(self) -> Path | None:
        """The main output (the first written)."""
        return self.outputs[0] if self.outputs else None

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunSummary:
    reports: list[FileReport] = field(default_factory=list)

    @property
    def failed(self) -> list[FileReport]:
        return [r for r in self.reports if not r.ok]

    @property
    def ok(self) -> bool:
        return bool(self.reports) and not self.failed


def run_each(items: Iterable[T], process: Callable[[T], FileReport], describe: Callable[[T], tuple[Path, str]],
             on_done: Callable[[FileReport], None] | None = None) -> RunSummary:
    """process(item) for each item; describe(item) -> (input path, kind) for the report of a failure."""
    summary = RunSummary()
    for item in items:
        t0 = time.perf_counter()
        try:
            report = process(item)
        except ModelError:
            raise  # a missing model fails every input alike: stop and say so once
        except FacepipeError as exc:
            log.error("%s", exc)
            report = FileReport(*describe(item), error=str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file must not end a folder run
            path, kind = describe(item)
            log.debug("%s failed", path, exc_info=True)
            report = FileReport(path, kind, error=f"{path}: {type(exc).__name__}: {exc}; no output was written")
            log.error("%s", report.error)
        if not report.seconds:
            report.seconds = time.perf_counter() - t0
        summary.reports.append(report)
        if on_done is not None:
            on_done(report)
    return summary


def graph_error(path: Path, exc: Exception) -> FacepipeError:
    """The user-facing error of a failed graph run: the stage's own FacepipeError (it names the
    file), or a ProcessingError naming the file and the time of the frame that failed."""
    from facepipe.graph import GraphError, Timestamp

    cause = exc.__cause__ if isinstance(exc, GraphError) else exc
    if isinstance(cause, FacepipeError) and not isinstance(cause, GraphError):
        return cause
    what = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
    ts = getattr(exc, "timestamp", None)
    where = f" at the frame at {ts / 1e6:.3f} s" if ts is not None and Timestamp.is_data(ts) else ""
    err = ProcessingError(f"{path}: processing failed{where} ({what}); no output was written")
    err.__cause__ = cause if cause is not None else exc
    return err
