"""`facepipe analyze`: photos and videos in, annotated copies plus all results as JSON out.

For every input:

* image `photo.jpg` -> `photo.annotated.jpg` (face mesh, head-pose axes and, if
  asked for, hands / pose / holistic drawn on it), `photo.json` (every result)
  and `photo.blendshapes.png` (bar chart of the first face's blendshapes);
* video `clip.mp4` -> `clip.annotated.mp4` with the same frame size, frame
  count, timestamps and a bit-identical copy of the audio, `clip.json` (results
  per frame) and `clip.blendshapes.png` (timeline of the first face's
  blendshapes).

Images run the solutions in image mode; each video gets fresh solution
instances in video mode (tracking, smoothing, real timestamps). A failure on
one input is recorded in its `FileReport` and the others carry on. Outputs are
written atomically and never replace an input.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facepipe._fsutil import atomic_write_bytes
from facepipe.draw.annotate import annotate
from facepipe.errors import InputError
from facepipe.io.image import WRITABLE_EXTENSIONS, read_image, write_image
from facepipe.io.video import Frame, VideoEncodeOptions
from facepipe.jobs import (
    ExecutionOptions,
    FileReport,
    MonotonicMs,
    Progress,
    fold_workers_alias,
    media_kind,
    output_stems,
    run_each,
    run_pipelined,
    schema,
)
from facepipe.jobs import collect_inputs as _collect
from facepipe.runtime.options import RuntimeOptions

log = logging.getLogger(__name__)

__all__ = ["AnalyzeOptions", "FileReport", "analyze_camera", "analyze_image", "analyze_inputs", "analyze_video",
           "collect_inputs", "is_our_output", "output_places", "outputs_for"]

_VIDEO_OUT_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v")


@dataclass(frozen=True)
class AnalyzeOptions:
    """What to run and draw.

    num_faces: most faces per image/frame. Landmark smoothing in videos needs num_faces == 1 (as in
        MediaPipe).
    hands / pose / holistic: also run those solutions and draw their results.
    mirrored: the input is a mirrored selfie view; keeps MediaPipe's handedness labels as they are. Off
        (default): labels are flipped so "Left" is the subject's own left hand.
    mediapipe_style: draw exactly like MediaPipe's drawing_utils instead of facepipe's anti-aliased style.
    head_pose: draw the head axes (and compute the transformation matrices).
    charts: write the blendshape chart (images) / timeline (videos).
    json_decimals: rounding of floats in the JSON.
    video: encoder settings for annotated videos.
    execution: how a video runs (`ExecutionOptions`: threads; above 1 a graph decodes, analyzes,
        draws and encodes different frames at once, 1 does one frame after another without the
        graph). The results are the same. `workers` is its deprecated alias.
    runtime: threads, model files, delegate of every solution it runs (`RuntimeOptions`).
    blendshapes_model: a regressor from `facepipe train blendshapes` (.onnx) used instead of the Tasks
        blendshape model.
    """

    num_faces: int = 4
    hands: bool = False
    pose: bool = False
    holistic: bool = False
    mirrored: bool = False
    mediapipe_style: bool = False
    head_pose: bool = True
    charts: bool = True
    json_decimals: int = 5
    video: VideoEncodeOptions = field(default_factory=VideoEncodeOptions)
    workers: int | None = None  # deprecated: execution.workers
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    blendshapes_model: Path | None = None

    def __post_init__(self) -> None:
        if self.num_faces < 1:
            raise ValueError(f"num_faces must be >= 1, got {self.num_faces}")
        fold_workers_alias(self)


# --------------------------------------------------------------------------- inputs and output names

def is_our_output(path: Path) -> bool:
    """An earlier run's output: folder runs leave them alone."""
    name = path.name
    return ".annotated." in name or name.endswith(".blendshapes.png")


def collect_inputs(paths: Sequence[str | os.PathLike[str]], out_dir: Path | None = None
                   ) -> list[tuple[Path, Path]]:
    """(input file, folder relative to its root) for every image/video named or found in a folder.

    Folders are searched recursively; files that look like this command's outputs and
    anything inside `out_dir` are skipped. A missing path raises InputError.
    """
    out_resolved = out_dir.resolve() if out_dir is not None else None

    def skip(f: Path) -> bool:
        return is_our_output(f) or (out_resolved is not None and out_resolved in f.resolve().parents)

    return [(f.path, f.relative_folder) for f in _collect(paths, recursive=True, skip=skip)]


def outputs_for(path: Path, out_dir: Path, stem: str | None = None) -> dict[str, Path]:
    """Paths of the annotated media, the JSON and the chart for one input (stem: see
    facepipe.jobs.output_stems; default the input's own)."""
    stem, ext = stem or path.stem, path.suffix.lower()
    if media_kind(path) == "video":
        media_ext = ext if ext in _VIDEO_OUT_EXTENSIONS else ".mp4"
    else:
        media_ext = ext if ext in WRITABLE_EXTENSIONS else ".png"
    return {
        "media": out_dir / f"{stem}.annotated{media_ext}",
        "json": out_dir / f"{stem}.json",
        "chart": out_dir / f"{stem}.blendshapes.png",
    }


def _check_not_input(outputs: dict[str, Path], inputs: set[Path]) -> None:
    # A set lookup, not refuse_overwrite per input: a folder run checks every output against all inputs.
    for p in outputs.values():
        if p.resolve() in inputs:
            raise InputError(f"{p}: refusing to overwrite the input file")


# --------------------------------------------------------------------------- solutions

class _Solutions:
    """The solution instances for one image batch or one video (video mode keeps tracking state)."""

    def __init__(self, options: AnalyzeOptions, video: bool) -> None:
        from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions, RunningMode

        self.video = video
        regressor = None
        if options.blendshapes_model is not None:
            from facepipe.solutions.blendshape_regressor import BlendshapeRegressor

            regressor = BlendshapeRegressor(options.blendshapes_model, runtime=options.runtime).tasks_order
        self.face = FaceLandmarker(FaceLandmarkerOptions(
            num_faces=options.num_faces, output_face_blendshapes=True,
            output_facial_transformation_matrixes=options.head_pose,
            running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE, runtime=options.runtime),
            blendshape_model=regressor)
        self.hands = self.pose = self.holistic = None
        if options.hands and not options.holistic:
            from facepipe.solutions.hands import Hands, HandsOptions

            self.hands = Hands(HandsOptions(static_image_mode=not video,
                                            flip_handedness=not options.mirrored, runtime=options.runtime))
        if options.pose and not options.holistic:
            from facepipe.solutions.pose import Pose, PoseOptions

            self.pose = Pose(PoseOptions(static_image_mode=not video, runtime=options.runtime))
        if options.holistic:
            from facepipe.solutions.holistic import Holistic, HolisticOptions

            self.holistic = Holistic(HolisticOptions(static_image_mode=not video, runtime=options.runtime))

    def run(self, image: np.ndarray, timestamp_ms: int | None) -> dict[str, Any]:
        results: dict[str, Any] = {}
        results["faces"] = (self.face.detect_for_video(image, timestamp_ms) if self.video
                            else self.face.detect(image))
        ts = timestamp_ms if self.video else None
        if self.hands is not None:
            results["hands"] = self.hands.process(image, ts)
        if self.pose is not None:
            results["pose"] = self.pose.process(image, ts)
        if self.holistic is not None:
            results["holistic"] = self.holistic.process(image, ts)
        return results

    def close(self) -> None:
        for s in (self.face, self.hands, self.pose, self.holistic):
            close = getattr(s, "close", None)
            if close is not None:
                close()


# --------------------------------------------------------------------------- JSON

def _json_safe(obj: Any) -> Any:
    """NaN/inf (e.g. the matrix of a face too small to fit) become null: JSON has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    return obj


def _frame_json(index: int, timestamp_ms: int, results: dict[str, Any], decimals: int) -> dict[str, Any]:
    """One frame in the facepipe.frames/1 layout (docs/json-schema.md): faces with box and score
    (= presence), the other solutions' results beside them."""
    out: dict[str, Any] = {"frame": index, "timestamp_ms": timestamp_ms}
    for name, r in results.items():
        try:
            d = r.to_dict(decimals=decimals)
        except TypeError:  # result types whose to_dict takes no rounding argument
            d = r.to_dict()
        d = {k: v for k, v in d.items() if k not in ("image_size", "timestamp_ms")}
        if name == "faces":
            size = np.asarray(r.image_size, np.float64)
            d = [schema.face(schema.landmark_box(r.landmarks[i][:, :2] * size), r.presence[i], **f)
                 for i, f in enumerate(d["faces"])]
        out[name] = d
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(_json_safe(data), separators=(",", ":"), allow_nan=False)
    atomic_write_bytes(path, text.encode("utf-8"))


def _first_face_blendshapes(result: Any) -> np.ndarray | None:
    bs = getattr(result, "blendshapes", None)
    return None if bs is None or len(bs) == 0 else np.asarray(bs[0], np.float64)


def _annotated(image: np.ndarray, results: dict[str, Any], options: AnalyzeOptions) -> np.ndarray:
    order = [results[k] for k in ("holistic", "pose", "faces", "hands") if k in results]
    return annotate(image, *order, mediapipe_compatible=options.mediapipe_style, head_pose=options.head_pose)


# --------------------------------------------------------------------------- per input

def analyze_image(path: Path, out_dir: Path, options: AnalyzeOptions, solutions: _Solutions | None = None,
                  inputs: set[Path] | None = None, stem: str | None = None) -> FileReport:
    """Analyze one image; raises FacepipeError on a bad input (analyze_inputs catches it)."""
    report = FileReport(path, "image")
    outs = outputs_for(path, out_dir, stem)
    _check_not_input(outs, inputs or {path.resolve()})
    image = read_image(path)
    own = solutions is None
    sols = solutions or _Solutions(options, video=False)
    try:
        results = sols.run(image, None)
    finally:
        if own:
            sols.close()
    report.faces = len(results["faces"])
    report.frames = 1
    out_dir.mkdir(parents=True, exist_ok=True)
    write_image(outs["media"], _annotated(image, results, options))
    report.outputs.append(outs["media"])
    _write_json(outs["json"], schema.document("analyze", str(path), (image.shape[1], image.shape[0]),
                                              [_frame_json(0, 0, results, options.json_decimals)], kind="image"))
    report.outputs.append(outs["json"])
    scores = _first_face_blendshapes(results["faces"])
    if options.charts and scores is not None and _have_matplotlib():
        from facepipe.draw.plots import plot_blendshapes, save_figure

        save_figure(plot_blendshapes(scores, title=f"Blendshapes: {path.name} (face 1)"), outs["chart"])
        report.outputs.append(outs["chart"])
    return report


class _VideoAnalysis:
    """One video's solutions (video mode: they track from frame to frame, so `run` must see the
    frames in order) and what the JSON and the timeline keep of every frame (`record`, in order)."""

    def __init__(self, options: AnalyzeOptions) -> None:
        self.options = options
        self.solutions = _Solutions(options, video=True)
        self.clock = MonotonicMs()
        self.json_clock = MonotonicMs()  # the same times again, in record()'s thread
        self.faces = 0
        self.frames_json: list[dict[str, Any]] = []
        self.timeline: list[np.ndarray] = []
        self.times: list[float] = []

    def run(self, image: np.ndarray, frame: Frame) -> dict[str, Any]:
        return self.solutions.run(image, self.clock(frame.time))

    def record(self, frame: Frame, results: dict[str, Any]) -> None:
        self.faces = max(self.faces, len(results["faces"]))
        self.frames_json.append(_frame_json(frame.index, self.json_clock(frame.time), results,
                                            self.options.json_decimals))
        scores = _first_face_blendshapes(results["faces"])
        self.timeline.append(scores if scores is not None else np.full(52, np.nan))
        self.times.append(frame.time)


class _AnalyzeVideo:
    """One video's frames through `analysis` into `dst`, in either form (`run_pipelined`)."""

    def __init__(self, path: Path, dst: Path, analysis: _VideoAnalysis, bar: Progress) -> None:
        self.path, self.dst, self.analysis, self.bar = path, dst, analysis, bar

    def run_sequential(self) -> None:
        from facepipe.io.video import VideoReader, VideoWriter

        analysis = self.analysis
        with VideoReader(self.path) as reader, VideoWriter.like(reader, self.dst, analysis.options.video) as writer:
            for frame in reader:
                results = analysis.run(frame.image, frame)
                writer.write(_annotated(frame.image, results, analysis.options), frame)
                analysis.record(frame, results)
                self.bar.update()

    def build_graph(self, execution: ExecutionOptions) -> tuple[Any, dict[str, Any]]:
        """Decoding, the solutions (in frame order), drawing (several frames at once) and encoding
        of different frames overlap."""
        from facepipe.calculators.video import VideoEncoderOptions
        from facepipe.graph import FunctionCalculator, FunctionOptions, GraphBuilder

        analysis, options = self.analysis, self.analysis.options
        b = GraphBuilder(num_workers=execution.threads)
        b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "input_path"},
                   outputs={"IMAGE": "frames", "FRAME": "frame_info", "VIDEO": "video"})
        b.add_node(FunctionCalculator, name="solutions", inputs={"IN0": "frames", "IN1": "frame_info"},
                   outputs={"OUT": "analyzed"},
                   options=FunctionOptions(lambda image, frame: (frame, analysis.run(image, frame))))
        b.add_node(FunctionCalculator, name="annotate", inputs={"IN0": "frames", "IN1": "analyzed"},
                   outputs={"OUT": "annotated"}, max_in_flight=execution.in_flight,
                   options=FunctionOptions(lambda image, analyzed: _annotated(image, analyzed[1], options)))
        b.add_node("VideoEncoderCalculator", name="encoder",
                   inputs={"IMAGE": "annotated", "FRAME": "frame_info", "VIDEO": "video"},
                   side_packets={"PATH": "output_path"}, options=VideoEncoderOptions(encode=options.video))
        graph = b.build()

        def done(packet: Any) -> None:  # in frame order, one at a time
            analysis.record(*packet.payload)
            self.bar.update()

        graph.observe_output("analyzed", done)
        return graph, {"input_path": str(self.path), "output_path": str(self.dst)}


def analyze_video(path: Path, out_dir: Path, options: AnalyzeOptions, progress: bool = False,
                  inputs: set[Path] | None = None, stem: str | None = None) -> FileReport:
    """Analyze one video frame by frame; the annotated copy keeps size, timing, frame count and audio."""
    from facepipe.io.video import probe_video

    report = FileReport(path, "video")
    outs = outputs_for(path, out_dir, stem)
    _check_not_input(outs, inputs or {path.resolve()})
    info = probe_video(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = _VideoAnalysis(options)
    try:
        with Progress(info.frame_count, path.name, enabled=progress) as bar:
            run_pipelined(_AnalyzeVideo(path, outs["media"], analysis, bar), options.execution, path)
    finally:
        analysis.solutions.close()
    report.outputs.append(outs["media"])
    return _finish_video(report, analysis, outs, (info.width, info.height), float(info.fps) if info.fps else None)


def analyze_camera(device: int, out_dir: Path, options: AnalyzeOptions, max_frames: int | None = None
                   ) -> FileReport:
    """Analyze camera `device` until Ctrl-C or `max_frames`: cameraN.annotated.mp4, cameraN.json, chart."""
    from fractions import Fraction

    from facepipe.io.video import VideoWriter
    from facepipe.jobs import open_camera

    report = FileReport(Path(f"camera {device}"), "camera")
    outs = outputs_for(Path(f"camera{device}.mp4"), out_dir)
    analysis = _VideoAnalysis(options)
    writer: VideoWriter | None = None
    size = (0, 0)
    try:
        with open_camera(device, max_frames=max_frames) as camera:
            out_dir.mkdir(parents=True, exist_ok=True)
            for f in camera:
                results = analysis.solutions.run(f.image, f.timestamp_ms)
                if writer is None:
                    size = (f.image.shape[1], f.image.shape[0])
                    writer = VideoWriter(outs["media"], width=size[0], height=size[1], fps=camera.fps,
                                         time_base=Fraction(1, 1000), options=options.video)
                writer.write(_annotated(f.image, results, options), f.timestamp_ms)
                analysis.record(Frame(f.index, f.image, f.timestamp_ms, Fraction(1, 1000)), results)
    except KeyboardInterrupt:
        pass  # stopping a live stream is the normal way to end it
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        analysis.solutions.close()
    if writer is None:
        return report
    writer.close()
    report.outputs.append(outs["media"])
    return _finish_video(report, analysis, outs, size, None)


def _finish_video(report: FileReport, analysis: _VideoAnalysis, outs: dict[str, Path], size: tuple[int, int],
                  fps: float | None) -> FileReport:
    """The JSON and the blendshape timeline of an analyzed video or camera stream."""
    report.frames, report.faces = len(analysis.frames_json), analysis.faces
    _write_json(outs["json"], schema.document("analyze", str(report.input), size, analysis.frames_json,
                                              kind=report.kind, fps=fps, frame_count=report.frames))
    report.outputs.append(outs["json"])
    timeline, times = analysis.timeline, analysis.times
    if analysis.options.charts and timeline and np.isfinite(np.asarray(timeline)).any() and _have_matplotlib():
        from facepipe.draw.plots import plot_blendshape_timeline, save_figure

        fig = plot_blendshape_timeline(np.asarray(timeline), times=np.asarray(times),
                                       title=f"Blendshapes over time: {report.input.name} (first face)")
        save_figure(fig, outs["chart"])
        report.outputs.append(outs["chart"])
    return report


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log.warning("matplotlib is not installed: no blendshape charts (pip install 'facepipe[plot]')")
        return False
    return True


def output_places(items: Iterable[tuple[Path, Path]], out_root: Path | None
                  ) -> tuple[dict[Path, Path], dict[Path, str]]:
    """({input: its output folder}, {input: its output stem}) for (input, relative folder) items:
    out_root/relative folder, or next to the input when out_root is None."""
    out_dirs = {p: (out_root / rel) if out_root is not None else p.parent for p, rel in items}
    return out_dirs, output_stems(out_dirs, folder_of=out_dirs.__getitem__)  # IMG_1.JPG + IMG_1.MOV: both kept


def analyze_inputs(
    items: Iterable[tuple[Path, Path]],
    out_root: Path | None,
    options: AnalyzeOptions,
    progress: bool = False,
    on_done: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """Analyze every (input, relative folder); outputs go to out_root/relative folder (or next to
    the input when out_root is None). A failing input is reported and the rest carry on."""
    items = list(items)
    inputs = {p.resolve() for p, _ in items}
    out_dirs, stems = output_places(items, out_root)
    image_solutions: list[_Solutions] = []  # shared by all images: models loaded once
    claimed: dict[Path, Path] = {}  # output -> the input that writes it

    def one(item: tuple[Path, Path]) -> FileReport:
        path = item[0]
        out_dir, stem = out_dirs[path], stems[path]
        for p in outputs_for(path, out_dir, stem).values():
            first = claimed.setdefault(p.resolve(), path)
            if first != path:
                raise InputError(f"{path}: its output {p} is also written for {first}; skipped")
        if media_kind(path) == "video":
            return analyze_video(path, out_dir, options, progress, inputs, stem)
        if not image_solutions:
            image_solutions.append(_Solutions(options, video=False))
        return analyze_image(path, out_dir, options, image_solutions[0], inputs, stem)

    try:
        with Progress(len(items), "files", enabled=progress and len(items) > 1, unit="file") as files_bar:
            def done(report: FileReport) -> None:
                files_bar.update()
                if on_done is not None:
                    on_done(report)

            return run_each(items, one, describe=lambda item: (item[0], media_kind(item[0]) or "image"),
                            on_done=done).reports
    finally:
        for sols in image_solutions:
            sols.close()
