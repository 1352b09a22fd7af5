"""What a batch worker does with one file: the same functions as the plain folder run.

A task (`AnonymizeTask`, `AnalyzeTask`) is a small picklable description; each worker builds its
processor from it once (`BatchWorker`), so models load once per worker and are reused for every
file it is given. Files are the unit of work: a video is never split into segments (stitching
re-encoded segments would not give the same bytes as the one-pass run, and the tracker and
landmark smoothing carry state across the whole video).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from facepipe.apps.batch.manifest import file_sha256, settings_sha256

__all__ = ["AnalyzeTask", "AnonymizeTask", "BatchWorker", "ItemResult", "Processed", "Task", "WorkItem", "run_item"]


@dataclass(frozen=True)
class WorkItem:
    """One input file; `target` is the output file (anonymize) or output folder (analyze);
    `outputs` every file it may write (for cleaning up after a worker died mid-file); `stem` the
    outputs' stem (analyze)."""

    input: Path
    target: Path
    outputs: tuple[Path, ...]
    kind: str  # "image" | "video"
    stem: str | None = None


@dataclass(frozen=True)
class Processed:
    """What a processor did with one file; `payload` is what the driver needs besides the files the
    worker wrote (e.g. the face vectors `search index` adds to its index), or None."""

    frames: int
    faces: int
    payload: Any = None


@dataclass
class ItemResult:
    input: Path
    ok: bool
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # path -> sha256
    input_sha256: str | None = None
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    worker: str = ""
    worker_lost: bool = False  # the worker died (killed, crashed, node lost) while on this file
    payload: Any = None  # Processed.payload, for the driver


class Task(Protocol):
    command: str

    def with_threads(self, threads: int | None) -> Task: ...
    def settings(self) -> str: ...
    def processor(self) -> Any: ...


@dataclass(frozen=True)
class AnonymizeTask:
    """`facepipe anonymize` on one file (AnonymizeOptions.execution: the video's threads)."""

    options: Any  # AnonymizeOptions (imported lazily: a Ray worker imports only what it runs)
    max_frames: int | None = None
    command: str = "anonymize"

    def with_threads(self, threads: int | None) -> AnonymizeTask:
        return replace(self, options=_with_threads(self.options, threads))

    def settings(self) -> str:
        return settings_sha256(self.command, _with_threads(self.options, None), self.max_frames)

    def processor(self) -> _Anonymize:
        return _Anonymize(self)


@dataclass(frozen=True)
class AnalyzeTask:
    """`facepipe analyze` on one file (AnalyzeOptions.execution: the video's threads)."""

    options: Any  # AnalyzeOptions
    command: str = "analyze"

    def with_threads(self, threads: int | None) -> AnalyzeTask:
        return replace(self, options=_with_threads(self.options, threads))

    def settings(self) -> str:
        return settings_sha256(self.command, _with_threads(self.options, None))

    def processor(self) -> _Analyze:
        return _Analyze(self)


def _with_threads(options: Any, threads: int | None) -> Any:
    """`options` running a video on `threads` (the settings leave threads out: the graph and the
    sequential run give the same outputs)."""
    from facepipe.jobs import ExecutionOptions

    return replace(options, execution=ExecutionOptions(threads))


class _Anonymize:
    def __init__(self, task: AnonymizeTask) -> None:
        from facepipe.apps.anonymize.files import shared_finder
        from facepipe.apps.anonymize.pipeline import Anonymizer

        self.task = task
        self.finder = shared_finder(task.options)  # as anonymize_paths
        self.anonymizer = Anonymizer(task.options, detector=self.finder)

    def __call__(self, item: WorkItem) -> Processed:
        from facepipe.apps.anonymize.files import anonymize_image_file, anonymize_video_file

        t = self.task
        if item.kind == "video":
            report = anonymize_video_file(item.input, item.target, t.options, detector=self.finder, progress=False,
                                          max_frames=t.max_frames)
        else:
            report = anonymize_image_file(item.input, item.target, t.options, self.anonymizer)
        return Processed(report.frames, report.faces)

    def close(self) -> None:
        pass


class _Analyze:
    def __init__(self, task: AnalyzeTask) -> None:
        self.options = task.options
        self.image_solutions: Any = None  # shared by all images of this worker

    def __call__(self, item: WorkItem) -> Processed:
        from facepipe.apps.analyze import _Solutions, analyze_image, analyze_video

        if item.kind == "video":
            report = analyze_video(item.input, item.target, self.options, stem=item.stem)
        else:
            if self.image_solutions is None:
                self.image_solutions = _Solutions(self.options, video=False)
            report = analyze_image(item.input, item.target, self.options, self.image_solutions, stem=item.stem)
        if report.error:
            from facepipe.errors import ProcessingError

            raise ProcessingError(report.error)
        return Processed(report.frames, report.faces)

    def close(self) -> None:
        if self.image_solutions is not None:
            self.image_solutions.close()


def run_item(processor: Any, item: WorkItem, worker: str = "") -> ItemResult:
    """Process one file; never raises: a failure is an ItemResult with the error (one line)."""
    from facepipe.errors import FacepipeError

    t0 = time.perf_counter()
    try:
        done = processor(item)
        outputs = {str(p.resolve()): file_sha256(p) for p in item.outputs if p.is_file()}
        return ItemResult(item.input, True, outputs=outputs, input_sha256=file_sha256(item.input), frames=done.frames,
                          faces=done.faces, seconds=time.perf_counter() - t0, worker=worker, payload=done.payload)
    except FacepipeError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must not end the worker
        error = f"{item.input}: {type(exc).__name__}: {exc}; no output was written"
    return ItemResult(item.input, False, error=error, seconds=time.perf_counter() - t0, worker=worker)


class BatchWorker:
    """One worker's models (built on the first file), reused for every file it is given; a Ray actor."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._processor: Any = None

    def pid(self) -> int:
        return os.getpid()

    def run(self, item: WorkItem) -> ItemResult:
        if self._processor is None:
            try:
                self._processor = self.task.processor()
            except Exception as exc:  # noqa: BLE001 - reported for the file, like any failure
                return ItemResult(item.input, False, error=f"{item.input}: {self.task.command} could not start"
                                  f" ({type(exc).__name__}: {exc})", worker=self.name)
        return run_item(self._processor, item, self.name)

    def close(self) -> None:
        if self._processor is not None:
            self._processor.close()
