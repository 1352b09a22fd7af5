"""Anonymizing files: images, videos and folders of them.

Outputs never replace an input and appear only when complete (temp file +
rename); a failure leaves no output. Default output: `<name>_anonymized.<ext>`
next to the input. Within a folder run, a file that fails is reported and the
others carry on.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from facepipe._fsutil import refuse_overwrite
from facepipe.apps.anonymize.detect import FaceFinder
from facepipe.apps.anonymize.options import AnonymizeOptions
from facepipe.apps.anonymize.pipeline import Anonymizer, Detect, OfflineAnonymizer
from facepipe.errors import FacepipeError, InputError, ProcessingError
from facepipe.graph import Graph, Packet
from facepipe.io.image import READABLE_EXTENSIONS, WRITABLE_EXTENSIONS, read_image_file, write_image
from facepipe.io.video import VIDEO_EXTENSIONS, Frame, VideoReader, VideoWriter, probe_video
from facepipe.jobs import (
    ExecutionOptions,
    FileReport,
    InputFile,
    Progress,
    RunSummary,
    collect_inputs,
    execution_with_workers,
    output_stems,
    run_each,
    run_pipelined,
)
from facepipe.results import Detections

log = logging.getLogger("facepipe.anonymize")

__all__ = [
    "IMAGE_EXTENSIONS",
    "anonymize_image_file",
    "anonymize_paths",
    "anonymize_video_file",
    "default_output_path",
    "describe",
    "detected_ahead",
    "file_kind",
    "planned_outputs",
    "is_our_output",
    "OUTPUT_SUFFIX",
]

OUTPUT_SUFFIX = "_anonymized"
OnProgress = Callable[[int, "int | None"], None]
IMAGE_EXTENSIONS = READABLE_EXTENSIONS


def describe(summary: RunSummary) -> str:
    """The closing lines of a run: totals, then one FAILED line per failed input."""
    done = [r for r in summary.reports if r.ok]
    frames = sum(r.frames for r in done)
    secs = sum(r.seconds for r in summary.reports)
    faces = sum(r.faces for r in done)
    regions = sum(r.regions for r in done)
    lines = [f"{len(done)} of {len(summary.reports)} files anonymized: {frames} frames, {faces} faces"
             f" ({regions} regions redacted) in {secs:.1f} s"
             + (f" ({frames / secs:.1f} frames/s)" if secs > 0 and frames else "")]
    lines += [f"FAILED {r.input}: {r.error}" for r in summary.failed]
    return "\n".join(lines)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def default_output_path(src: Path, stem: str | None = None) -> Path:
    """`<name>_anonymized.<ext>` next to the input (images in formats we cannot write become .png).
    stem: replaces the input's own (see facepipe.jobs.output_stems)."""
    ext = src.suffix
    if is_image_path(src) and ext.lower() not in WRITABLE_EXTENSIONS:
        ext = ".png"
    return src.with_name(f"{stem or src.stem}{OUTPUT_SUFFIX}{ext}")


def is_our_output(path: Path) -> bool:
    """An earlier run's output (`*_anonymized.*`): folder runs leave them alone."""
    return path.stem.endswith(OUTPUT_SUFFIX)


def _output_for(src: Path, base: Path | None, output: Path | None, many: bool, stem: str) -> Path:
    if output is None:
        return default_output_path(src, stem)
    if many or output.is_dir() or str(output).endswith(os.sep):
        # Into a folder: mirror the input's place below the folder it was found in.
        rel = src.relative_to(base) if base is not None else Path(src.name)
        dst = output / rel
        if dst.resolve() == src.resolve():
            dst = default_output_path(dst, stem)
        elif stem != src.stem:
            dst = dst.with_name(f"{stem}{_output_ext(src)}")
        return dst
    return output


def _output_ext(src: Path) -> str:
    return ".png" if is_image_path(src) and src.suffix.lower() not in WRITABLE_EXTENSIONS else src.suffix


def anonymize_image_file(src: Path, dst: Path, options: AnonymizeOptions, anonymizer: Anonymizer) -> FileReport:
    report = FileReport(src, "image", [dst])
    t0 = time.perf_counter()
    refuse_overwrite(dst, src)
    image = read_image_file(src)
    if image.bit_depth > 8:
        log.warning("%s: %d-bit samples are written as 8-bit in %s", src, image.bit_depth, dst)
    result = anonymizer.process_image(image.rgb)
    dst.parent.mkdir(parents=True, exist_ok=True)
    # Transparency is kept (the redaction is in the colour channels): a cut-out stays a cut-out.
    write_image(dst, result.image, keep_metadata=options.keep_metadata, metadata_from=src, alpha=image.alpha,
                quality=options.image_quality if dst.suffix.lower() in (".jpg", ".jpeg", ".webp") else None)
    report.frames, report.regions, report.faces = 1, len(result.regions), len(result.regions)
    report.seconds = time.perf_counter() - t0
    return report


def anonymize_video_file(src: Path, dst: Path, options: AnonymizeOptions, *, detector: Detect | None = None,
                         progress: bool = True, max_frames: int | None = None, workers: int | None = None,
                         on_progress: OnProgress | None = None) -> FileReport:
    """Anonymize one video into `dst`: same frames, timestamps and audio; nothing written on failure.

    options.execution: threads of the processing graph (default: all cores), which decodes,
    detects, tracks, redacts and encodes different frames at once; 1 runs the stages one frame
    after another instead (with decoding and detection ahead in a second thread). Both give the
    same regions. workers: deprecated alias of options.execution.workers.
    detector: replaces the FaceFinder (a FaceFinder runs one frame at a time: pass None to let
    the graph detect several frames at once, each with a FaceFinder of its own).
    on_progress: on_progress(frames written, total or None) after each frame is processed (a GUI's
    progress bar); raising from it (`facepipe.errors.CancelledError`) stops the run, writing nothing.
    """
    execution = execution_with_workers("anonymize_video_file", options.execution, workers)
    refuse_overwrite(dst, src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    total = _progress_total(probe_video(src).frame_count, max_frames)
    job = _AnonymizeVideo(src, dst, options, detector, max_frames, total, on_progress)
    with Progress(total, src.name, enabled=progress, on_update=on_progress) as job.bar:
        run_pipelined(job, execution, src)
    job.tracks.discard(-1)
    job.report.faces = len(job.tracks)
    job.report.seconds = time.perf_counter() - t0
    return job.report


def _progress_total(frame_count: int | None, max_frames: int | None) -> int | None:
    if max_frames is None:
        return frame_count
    return min(frame_count, max_frames) if frame_count else max_frames


class _AnonymizeVideo:
    """One video's anonymization in either form (`run_pipelined`); counts frames, regions, tracks."""

    bar: Progress

    def __init__(self, src: Path, dst: Path, options: AnonymizeOptions, detector: Detect | None,
                 max_frames: int | None, total: int | None, on_progress: OnProgress | None) -> None:
        self.src, self.dst, self.options, self.detector, self.max_frames = src, dst, options, detector, max_frames
        self.total, self.on_progress = total, on_progress
        self.report = FileReport(src, "video", [dst])
        self.tracks: set[int] = set()

    def _count(self, regions: Detections) -> None:
        self.report.regions += len(regions)
        self.tracks.update(regions.track_ids.tolist())

    def build_graph(self, execution: ExecutionOptions) -> tuple[Graph, dict[str, Any]]:
        from facepipe.apps.anonymize.calculators import anonymize_video_config

        # Stateless stages (detection, redaction) run this many frames at once, each with its own models.
        in_flight = execution.in_flight
        graph = Graph(anonymize_video_config(self.options, detect_in_flight=in_flight, redact_in_flight=in_flight,
                                             max_frames=self.max_frames, given_detector=self.detector is not None),
                      num_workers=execution.threads)

        def on_redacted(_packet: Packet) -> None:  # output callbacks run in stream order, one at a time
            self.report.frames += 1
            self.bar.update()

        graph.observe_output("regions", lambda packet: self._count(packet.payload))
        graph.observe_output("redacted", on_redacted)
        on_progress = self.on_progress
        if on_progress is not None:
            # Frames are written `hold` frames after they are tracked: calling it for each tracked
            # frame too lets a cancel stop the run before the first frame is written.
            graph.observe_output("current", lambda _packet: on_progress(self.report.frames, self.total))
        side: dict[str, Any] = {"input_path": str(self.src), "output_path": str(self.dst)}
        if self.detector is not None:
            side["detector"] = self.detector
        return graph, side

    def run_sequential(self) -> None:
        src, options = self.src, self.options
        off = OfflineAnonymizer(options, detector=self.detector)
        with VideoReader(src) as reader, \
                VideoWriter.like(reader, self.dst, options.video, copy_audio=options.keep_audio) as writer:
            index = -1
            try:
                for frame, dets in detected_ahead(reader, off.anonymizer.stream_detect, self.max_frames):
                    index = frame.index
                    for result, fr in off.push(frame.image, frame, dets):
                        writer.write(result.image, fr)
                        self._count(result.regions)
                    self.bar.update()
                for result, fr in off.flush():
                    writer.write(result.image, fr)
                    self._count(result.regions)
            except FacepipeError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure aborts the file: fail closed
                raise ProcessingError(f"{src}: processing failed at frame {index} ({type(exc).__name__}: {exc});"
                                      " no output was written") from exc
            self.report.frames = writer.frames_written


_DONE = object()


def detected_ahead(reader: VideoReader, detect: Callable[[np.ndarray, int], Detections], max_frames: int | None,
                   depth: int = 4) -> Iterator[tuple[Frame, Detections]]:
    """(frame, detections) in order, decoded and detected in a worker thread.

    Decoding and detection (LiteRT, OpenCV: both release the GIL) then overlap with the
    caller's tracking, redaction and encoding, which uses a second core. An exception in
    the worker is raised here; leaving early stops the worker.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def work() -> None:
        try:
            for frame in reader:
                if stop.is_set() or (max_frames is not None and frame.index >= max_frames):
                    break
                put((frame, detect(frame.image, frame.index)))
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, who raises it
            put(exc)

    worker = threading.Thread(target=work, name="facepipe-detect", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def anonymize_paths(
    inputs: Iterable[str | os.PathLike[str]],
    options: AnonymizeOptions | None = None,
    *,
    output: str | os.PathLike[str] | None = None,
    recursive: bool = False,
    progress: bool = True,
    max_frames: int | None = None,
    workers: int | None = None,
    on_progress: OnProgress | None = None,
) -> RunSummary:
    """Anonymize files and folders; never raises for a single bad file (see the summary).
    options.execution, on_progress (per video): see anonymize_video_file; workers: deprecated alias of
    options.execution.workers."""
    options = options or AnonymizeOptions()
    if workers is not None:
        options = replace(options, execution=execution_with_workers("anonymize_paths", options.execution, workers))
    jobs, outputs = planned_outputs(inputs, output, recursive)
    finder = shared_finder(options)
    anonymizer = Anonymizer(options, detector=finder)  # its image detector loads on the first image
    claimed: dict[Path, Path] = {}  # output -> the input that writes it

    def one(job: InputFile) -> FileReport:
        src = job.path
        dst = outputs[src]
        first = claimed.setdefault(dst.resolve(), src)
        if first != src:  # e.g. -o names one file for two inputs: never overwrite a result
            raise InputError(f"{src}: its output {dst} is also the output of {first}; skipped")
        if file_kind(job) == "video":
            report = anonymize_video_file(src, dst, options, detector=finder, progress=progress,
                                          max_frames=max_frames, on_progress=on_progress)
        else:
            report = anonymize_image_file(src, dst, options, anonymizer)
        log.info("%s -> %s: %d frames, %d faces, %.1f s", src, dst, report.frames, report.faces, report.seconds)
        return report

    return run_each(jobs, one, describe=lambda job: (job.path, job.kind or "image"))


def shared_finder(options: AnonymizeOptions) -> FaceFinder | None:
    """The FaceFinder every video of a run shares when frames run one at a time (its models load
    once for all files), else None: the graph gives each of its parallel detection slots a
    FaceFinder of its own (a FaceFinder detects one frame at a time)."""
    return FaceFinder(options.detect) if options.execution.sequential else None


def planned_outputs(inputs: Iterable[str | os.PathLike[str]], output: str | os.PathLike[str] | None,
                    recursive: bool = False) -> tuple[list[InputFile], dict[Path, Path]]:
    """The input files and {input: its output file}: `NAME_anonymized.EXT` next to each input, or
    mirrored below the output folder. (Shared by the plain run and the batch runner.)"""
    jobs = collect_inputs(inputs, recursive=recursive, skip=is_our_output)
    if not jobs:
        raise InputError("no input files")
    out = Path(output) if output is not None else None
    many = len(jobs) > 1 or any(job.folder is not None for job in jobs)
    if out is not None and many and out.exists() and not out.is_dir():
        raise InputError(f"{out}: several inputs need an output folder, but this is a file")
    # Inputs whose outputs would share a name (x.gif and x.png both give x_anonymized.png) keep
    # their extension in it.
    stems = output_stems((job.path for job in jobs), folder_of=lambda p: (p.parent, _output_ext(p).lower()))
    return jobs, {job.path: _output_for(job.path, job.folder, out, many, stems[job.path]) for job in jobs}


def file_kind(job: InputFile) -> str:
    """"video" or "image" (a named file of unknown type is tried as a video)."""
    return "video" if job.kind == "video" or (job.kind is None and _probably_video(job.path)) else "image"


def _probably_video(path: Path) -> bool:
    """For a named file without a known extension: try it as a video if it is not an image."""
    try:
        with VideoReader(path) as r:
            return r.info.frame_count is None or r.info.frame_count > 1
    except FacepipeError:
        return False
