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
one input is recorded in its `ItemReport` and the others carry on. Outputs are
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
from facepipe.errors import FacepipeError, InputError, ModelError
from facepipe.io.image import READABLE_EXTENSIONS, WRITABLE_EXTENSIONS, read_image, write_image
from facepipe.io.video import VIDEO_EXTENSIONS, Frame, VideoEncodeOptions
from facepipe.runtime.options import RuntimeOptions
from facepipe.jobs import output_stems

log = logging.getLogger(__name__)

__all__ = ["AnalyzeOptions", "ItemReport", "analyze_image", "analyze_video", "analyze_inputs",
           "collect_inputs", "outputs_for", "check_available"]

_VIDEO_OUT_EXTENSIONS = (".mp4", ".mov", ".mkv", ".m4v")
# tqdm-like: factory(total=, desc=, unit=) -> an object with update(n) and close().
ProgressFactory = Callable[..., Any]


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
    workers: threads for a video (None: all cores): it runs as a graph that decodes, analyzes, draws
        and encodes different frames at once; 1 does one frame after another without the graph.
        The results are the same.
    runtime: threads, model files, delegate of every solution it runs (`RuntimeOptions`).
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
    workers: int | None = None
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        if self.num_faces < 1:
            raise ValueError(f"num_faces must be >= 1, got {self.num_faces}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")


@dataclass
class ItemReport:
    """Outcome for one input: files written, or the error that stopped it."""

    input: Path
    kind: str  # "image" | "video"
    outputs: list[Path] = field(default_factory=list)
    faces: int = 0  # faces in the image, or most faces in any frame of a video
    frames: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# --------------------------------------------------------------------------- inputs and output names

def input_kind(path: Path) -> str | None:
    ext = path.suffix.lower()
    if ext in READABLE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def _is_our_output(path: Path) -> bool:
    name = path.name
    return ".annotated." in name or name.endswith(".blendshapes.png")


def collect_inputs(paths: Sequence[str | os.PathLike[str]], out_dir: Path | None = None
                   ) -> list[tuple[Path, Path]]:
    """(input file, folder relative to its root) for every image/video named or found in a folder.

    Folders are searched recursively; files that look like this command's outputs and
    anything inside `out_dir` are skipped. A missing path raises InputError.
    """
    found: list[tuple[Path, Path]] = []
    out_resolved = out_dir.resolve() if out_dir is not None else None
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if not f.is_file() or input_kind(f) is None or _is_our_output(f):
                    continue
                if out_resolved is not None and out_resolved in f.resolve().parents:
                    continue
                found.append((f, f.parent.relative_to(p)))
        elif p.is_file():
            found.append((p, Path()))
        else:
            raise InputError(f"{p}: no such file or folder")
    return found


def outputs_for(path: Path, out_dir: Path, stem: str | None = None) -> dict[str, Path]:
    """Paths of the annotated media, the JSON and the chart for one input (stem: see
    facepipe.jobs.output_stems; default the input's own)."""
    stem, ext = stem or path.stem, path.suffix.lower()
    if input_kind(path) == "video":
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
        self.face = FaceLandmarker(FaceLandmarkerOptions(
            num_faces=options.num_faces, output_face_blendshapes=True,
            output_facial_transformation_matrixes=options.head_pose,
            running_mode=RunningMode.VIDEO if video else RunningMode.IMAGE, runtime=options.runtime))
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


def check_available(options: AnalyzeOptions) -> None:
    """Fail before any work if an optional solution that `options` asks for is missing."""
    import importlib

    wanted = [m for m, on in (("pose", options.pose and not options.holistic), ("holistic", options.holistic))
              if on]
    for module in wanted:
        try:
            importlib.import_module(f"facepipe.solutions.{module}")
        except ImportError as exc:
            raise FacepipeError(f"--{module} needs facepipe.solutions.{module}, which is not available in "
                                f"this installation ({exc})") from exc


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


def _results_dict(results: dict[str, Any], decimals: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, r in results.items():
        try:
            out[name] = r.to_dict(decimals=decimals)
        except TypeError:  # result types whose to_dict takes no rounding argument
            out[name] = r.to_dict()
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
                  inputs: set[Path] | None = None, stem: str | None = None) -> ItemReport:
    """Analyze one image; raises FacepipeError on a bad input (analyze_inputs catches it)."""
    report = ItemReport(path, "image")
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
    _write_json(outs["json"], {"input": str(path), "kind": "image",
                               "image_size": [image.shape[1], image.shape[0]],
                               **_results_dict(results, options.json_decimals)})
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
        self.last_ms = -1
        self.faces = 0
        self.frames_json: list[dict[str, Any]] = []
        self.timeline: list[np.ndarray] = []
        self.times: list[float] = []

    def run(self, image: np.ndarray, frame: Frame) -> dict[str, Any]:
        # Tasks needs strictly increasing integer ms; two frames within one ms get +1.
        ts = max(self.last_ms + 1, int(round(frame.time * 1000)))
        self.last_ms = ts
        return self.solutions.run(image, ts)

    def record(self, frame: Frame, results: dict[str, Any]) -> None:
        self.faces = max(self.faces, len(results["faces"]))
        self.frames_json.append({"index": frame.index, "time": round(frame.time, 6),
                                 **_results_dict(results, self.options.json_decimals)})
        scores = _first_face_blendshapes(results["faces"])
        self.timeline.append(scores if scores is not None else np.full(52, np.nan))
        self.times.append(frame.time)


def _analyze_frames(path: Path, dst: Path, analysis: _VideoAnalysis, bar: Any) -> None:
    """One frame after another, in this thread."""
    from facepipe.io.video import VideoReader, VideoWriter

    with VideoReader(path) as reader, VideoWriter.like(reader, dst, analysis.options.video) as writer:
        for frame in reader:
            results = analysis.run(frame.image, frame)
            writer.write(_annotated(frame.image, results, analysis.options), frame)
            analysis.record(frame, results)
            if bar is not None:
                bar.update(1)


def _analyze_frames_graph(path: Path, dst: Path, analysis: _VideoAnalysis, bar: Any, workers: int) -> None:
    """The same as a graph: decoding, the solutions (in frame order), drawing (several frames at
    once) and encoding of different frames overlap."""
    from facepipe.calculators.video import VideoEncoderOptions
    from facepipe.graph import FunctionCalculator, FunctionOptions, GraphBuilder, GraphError

    options = analysis.options
    b = GraphBuilder(num_workers=workers)
    b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "input_path"},
               outputs={"IMAGE": "frames", "FRAME": "frame_info", "VIDEO": "video"})
    b.add_node(FunctionCalculator, name="solutions", inputs={"IN0": "frames", "IN1": "frame_info"},
               outputs={"OUT": "analyzed"},
               options=FunctionOptions(lambda image, frame: (frame, analysis.run(image, frame))))
    b.add_node(FunctionCalculator, name="annotate", inputs={"IN0": "frames", "IN1": "analyzed"},
               outputs={"OUT": "annotated"}, max_in_flight=max(1, min(workers, 8)),
               options=FunctionOptions(lambda image, analyzed: _annotated(image, analyzed[1], options)))
    b.add_node("VideoEncoderCalculator", name="encoder",
               inputs={"IMAGE": "annotated", "FRAME": "frame_info", "VIDEO": "video"},
               side_packets={"PATH": "output_path"}, options=VideoEncoderOptions(encode=options.video))
    graph = b.build()

    def done(packet: Any) -> None:  # in frame order, one at a time
        analysis.record(*packet.payload)
        if bar is not None:
            bar.update(1)

    graph.observe_output("analyzed", done)
    try:
        graph.run(side_packets={"input_path": str(path), "output_path": str(dst)})
    except GraphError as exc:
        # The stage's own error, as the sequential run raises it (analyze_inputs names the file).
        original = exc.__cause__ or exc
        raise original from original.__cause__
    log.debug("%s: graph profile\n%s", path, graph.profile_table())


def analyze_video(path: Path, out_dir: Path, options: AnalyzeOptions, progress: ProgressFactory | None = None,
                  inputs: set[Path] | None = None, stem: str | None = None) -> ItemReport:
    """Analyze one video frame by frame; the annotated copy keeps size, timing, frame count and audio."""
    from facepipe.io.video import probe_video

    report = ItemReport(path, "video")
    outs = outputs_for(path, out_dir, stem)
    _check_not_input(outs, inputs or {path.resolve()})
    info = probe_video(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = options.workers or os.cpu_count() or 1
    analysis = _VideoAnalysis(options)
    bar = progress(total=info.frame_count, desc=path.name, unit="frame") if progress else None
    try:
        if workers == 1:
            _analyze_frames(path, outs["media"], analysis, bar)
        else:
            _analyze_frames_graph(path, outs["media"], analysis, bar, workers)
    finally:
        analysis.solutions.close()
        if bar is not None:
            bar.close()
    report.frames, report.faces = len(analysis.frames_json), analysis.faces
    frames_json, timeline, times = analysis.frames_json, analysis.timeline, analysis.times
    report.outputs.append(outs["media"])
    fps = float(info.fps) if info.fps else None
    _write_json(outs["json"], {
        "input": str(path), "kind": "video", "image_size": [info.width, info.height], "fps": fps,
        "frame_count": report.frames, "frames": frames_json,
    })
    report.outputs.append(outs["json"])
    if options.charts and timeline and np.isfinite(np.asarray(timeline)).any() and _have_matplotlib():
        from facepipe.draw.plots import plot_blendshape_timeline, save_figure

        fig = plot_blendshape_timeline(np.asarray(timeline), times=np.asarray(times),
                                       title=f"Blendshapes over time: {path.name} (first face)")
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


def analyze_inputs(
    items: Iterable[tuple[Path, Path]],
    out_root: Path | None,
    options: AnalyzeOptions,
    progress: ProgressFactory | None = None,
    on_done: Callable[[ItemReport], None] | None = None,
) -> list[ItemReport]:
    """Analyze every (input, relative folder); outputs go to out_root/relative folder (or next to
    the input when out_root is None). A failing input is reported and the rest carry on."""
    items = list(items)
    inputs = {p.resolve() for p, _ in items}
    out_dirs = {p: (out_root / rel) if out_root is not None else p.parent for p, rel in items}
    stems = output_stems(out_dirs, folder_of=out_dirs.__getitem__)  # IMG_1.JPG + IMG_1.MOV: both kept
    reports: list[ItemReport] = []
    image_solutions: _Solutions | None = None  # shared by all images: loading models once
    files_bar = progress(total=len(items), desc="files", unit="file") if progress and len(items) > 1 else None
    try:
        claimed: dict[Path, Path] = {}  # output -> the input that writes it
        for path, _rel in items:
            kind = input_kind(path) or "image"
            out_dir, stem = out_dirs[path], stems[path]
            try:
                for p in outputs_for(path, out_dir, stem).values():
                    first = claimed.setdefault(p.resolve(), path)
                    if first != path:  # x.jpg and x.mp4 both write x.json: never overwrite a result
                        raise InputError(f"{path}: its output {p} is also written for {first}; skipped")
                if kind == "video":
                    report = analyze_video(path, out_dir, options, progress, inputs, stem)
                else:
                    if image_solutions is None:
                        image_solutions = _Solutions(options, video=False)
                    report = analyze_image(path, out_dir, options, image_solutions, inputs, stem)
            except ModelError:
                raise  # a missing model fails every input alike: stop and say so once
            except FacepipeError as exc:
                report = ItemReport(path, kind, error=str(exc))
            except Exception as exc:  # a broken file must not stop a folder run
                log.debug("analyzing %s failed", path, exc_info=True)
                report = ItemReport(path, kind, error=f"{path}: {type(exc).__name__}: {exc}")
            reports.append(report)
            if on_done is not None:
                on_done(report)
            if files_bar is not None:
                files_bar.update(1)
    finally:
        if image_solutions is not None:
            image_solutions.close()
        if files_bar is not None:
            files_bar.close()
    return reports
