"""The anonymizer's stages as graph nodes, and the anonymize-a-video graph.

    decoder -> finder -> verify -> tracker -> backfill -> redact -> encoder
       |\\----> scene cuts --/^-------/^         ^
        \\_____ IMAGE, FRAME ____________________/

FaceFinder and Redactor are stateless, so those nodes can process several
frames at once (max_in_flight); the stream verifier (which reuses recent
confirmations, `VerifyOptions.reuse_frames`), the tracker and the backfill
buffer keep state and run in frame order. The backfill node holds each frame `hold` frames, so
that faces first found later (or lost and found again) are also redacted in
the frames before — exactly what `OfflineAnonymizer` does in one thread. The
scene-cut node tells the tracker, frame by frame, whether a new shot starts
there (`confirm` frames late; the tracker waits for it), so no track crosses a cut.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from facepipe.apps.anonymize.detect import FaceFinder, FaceFinderOptions
from facepipe.apps.anonymize.options import AnonymizeOptions
from facepipe.apps.anonymize.pipeline import BackfillBuffer, RegionRedactor
from facepipe.apps.anonymize.redact import RedactOptions
from facepipe.apps.anonymize.stream_verify import StreamVerifier
from facepipe.apps.anonymize.track import FaceTracker, TrackerOptions
from facepipe.calculators.video import VideoDecoderOptions, VideoEncoderOptions
from facepipe.graph import Calculator, CalculatorContext, GraphBuilder, GraphConfig, register_calculator
from facepipe.results import Detections
from facepipe.stages.scene_cuts import SceneCutDetector, SceneCutOptions

__all__ = [
    "BackfillCalculator",
    "BackfillOptions",
    "FaceFinderCalculator",
    "FaceTrackerCalculator",
    "RedactCalculator",
    "RedactInPlaceCalculator",
    "SceneCutCalculator",
    "StreamVerifyCalculator",
    "UncheckedFaceFinderCalculator",
    "add_face_regions",
    "add_redact_and_encode",
    "anonymize_video_config",
]


@register_calculator
class FaceFinderCalculator(Calculator):
    """IMAGE -> DETECTIONS: high-recall detection over an image pyramid (FaceFinderOptions).

    Like `FaceFinder` on a stream, frame k scans the tiles of phase k (tile_period); k is the
    node's call index, so instances running frames in parallel scan the same tiles as one would.
    Optional side packet DETECTOR: a `FaceFinder` (its options then apply) or any callable
    RGB -> Detections to use instead of a FaceFinder of its own; instances running in parallel
    share it, so it must be thread-safe (a FaceFinder is, but runs one frame at a time).
    """

    inputs = ("IMAGE",)
    outputs = ("DETECTIONS",)
    optional_side_packets = ("DETECTOR",)
    Options = FaceFinderOptions
    checks = True  # the weak detections are checked here (see UncheckedFaceFinderCalculator)

    def open(self, ctx: CalculatorContext) -> None:
        detect = ctx.side_packets.get("DETECTOR")
        if detect is None:
            detect = FaceFinder(ctx.options)
        self._detect = detect
        self._finder = detect if isinstance(detect, FaceFinder) else None

    def process(self, ctx: CalculatorContext) -> None:
        image = ctx.input("IMAGE")
        if image is None:
            return
        if self._finder is None:
            ctx.outputs.add("DETECTIONS", self._detect(image))
            return
        ctx.outputs.add("DETECTIONS", self._finder.detect_frame(image, ctx.call_index, check=self.checks))


@register_calculator
class UncheckedFaceFinderCalculator(FaceFinderCalculator):
    """IMAGE -> DETECTIONS as FaceFinderCalculator, but with `verify.reuse_frames` > 0 the weak
    detections are left unchecked (`extras["unchecked"]`) for the StreamVerifyCalculator that must
    follow it, which checks them in frame order and reuses recent confirmations (`add_face_regions`
    builds the pair). Without that node the tracker would take them as rejected."""

    checks = False


@register_calculator
class StreamVerifyCalculator(Calculator):
    """IMAGE + DETECTIONS -> DETECTIONS: the weak detections the finder left unchecked, checked in
    frame order by a `StreamVerifier` (which reuses recent confirmations; FaceFinderOptions, the
    finder's). Detections with nothing unchecked pass unchanged. Optional input CUT (bool): a new
    shot starts at this frame (no confirmation is reused across it). Optional side packet DETECTOR:
    the finder's, whose options then apply if it is a `FaceFinder`."""

    inputs = ("IMAGE", "DETECTIONS")
    optional_inputs = ("CUT",)
    outputs = ("DETECTIONS",)
    optional_side_packets = ("DETECTOR",)
    Options = FaceFinderOptions

    def open(self, ctx: CalculatorContext) -> None:
        detect = ctx.side_packets.get("DETECTOR")
        self._verifier = StreamVerifier(detect.options if isinstance(detect, FaceFinder) else ctx.options)
        self._index = 0

    def process(self, ctx: CalculatorContext) -> None:
        image, dets = ctx.input("IMAGE"), ctx.input("DETECTIONS")
        if dets is None:
            return
        if image is None:
            raise ValueError(f"no IMAGE for the detections at timestamp {ctx.timestamp}")
        cut = bool(ctx.input("CUT", False))
        ctx.outputs.add("DETECTIONS", self._verifier(image, dets, self._index, self._index if cut else None))
        self._index += 1


@register_calculator
class SceneCutCalculator(Calculator):
    """IMAGE -> CUT: per frame, True where a new shot starts (`SceneCutDetector`, SceneCutOptions).
    Each CUT packet comes `confirm` frames after its frame (at that frame's timestamp)."""

    inputs = ("IMAGE",)
    outputs = ("CUT",)
    Options = SceneCutOptions
    auto_bounds = False  # outputs lag the inputs by `confirm` frames

    def open(self, ctx: CalculatorContext) -> None:
        self._cuts = SceneCutDetector(ctx.options)
        self._stamps: deque[int] = deque()  # timestamps of the frames not decided yet

    def process(self, ctx: CalculatorContext) -> None:
        image = ctx.input("IMAGE")
        if image is None:
            return
        self._stamps.append(ctx.timestamp)
        for d in self._cuts.push(image):
            ctx.outputs.add("CUT", d.cut, self._stamps.popleft())
        ctx.outputs.set_bound("CUT", self._stamps[0] if self._stamps else ctx.timestamp + 1)

    def close(self, ctx: CalculatorContext) -> None:
        if ctx.graph_error is None:
            for d in self._cuts.flush():
                ctx.outputs.add("CUT", d.cut, self._stamps.popleft())


@register_calculator
class FaceTrackerCalculator(Calculator):
    """DETECTIONS -> REGIONS (this frame: detections + held faces) and RETRO ({timestamp: regions}
    to add to earlier frames: backfill and gap interpolation). Options: TrackerOptions.
    Optional input CUT (bool): a new shot starts at this frame; every track ends (no hold or
    backfill across it)."""

    inputs = ("DETECTIONS",)
    optional_inputs = ("CUT",)
    outputs = ("REGIONS", "RETRO")
    Options = TrackerOptions

    def open(self, ctx: CalculatorContext) -> None:
        self._tracker = FaceTracker(ctx.options)
        self._index = 0
        # Timestamps of recent frames by index: retro regions older than `hold` frames are too late anyway.
        self._recent: deque[tuple[int, int]] = deque(maxlen=ctx.options.hold + 2)

    def process(self, ctx: CalculatorContext) -> None:
        dets = ctx.input("DETECTIONS")
        if dets is None:
            return
        cut = bool(ctx.input("CUT", False))
        step = self._tracker.update(dets, self._index, new_shot=self._index if cut else None)
        self._recent.append((self._index, ctx.timestamp))
        self._index += 1
        ctx.outputs.add("REGIONS", step.current)
        if step.retro:
            by_index = dict(self._recent)
            retro = {by_index[i]: r for i, r in step.retro.items() if i in by_index and len(r)}
            if retro:
                ctx.outputs.add("RETRO", retro)


@dataclass(frozen=True)
class BackfillOptions:
    """delay: frames each frame is held for late regions; use the tracker's `hold`."""

    delay: int = 10

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")


@register_calculator
class BackfillCalculator(Calculator):
    """Holds frames `delay` frames so RETRO regions can still be added, then releases them in order.

    Inputs: IMAGE, REGIONS (this frame's), RETRO (optional, {timestamp: regions} for earlier frames),
    FRAME (optional, carried along). Outputs at each released frame's own timestamp: IMAGE,
    REGIONS (all of the frame's regions), FRAME.
    """

    inputs = ("IMAGE", "REGIONS")
    optional_inputs = ("RETRO", "FRAME")
    outputs = ("IMAGE", "REGIONS", "FRAME")
    Options = BackfillOptions
    auto_bounds = False  # outputs lag the inputs by `delay` frames

    def open(self, ctx: CalculatorContext) -> None:
        self._buffer = BackfillBuffer(ctx.options.delay)
        self._index = 0
        self._held: deque[tuple[int, int]] = deque()  # (index, timestamp) of frames in the buffer

    def process(self, ctx: CalculatorContext) -> None:
        retro = ctx.input("RETRO")
        if retro:
            by_ts = {ts: i for i, ts in self._held}
            self._buffer.add({by_ts[ts]: r for ts, r in retro.items() if ts in by_ts})
        image, regions = ctx.input("IMAGE"), ctx.input("REGIONS")
        if image is None or regions is None:
            if image is not None:
                raise ValueError(f"no REGIONS for the frame at timestamp {ctx.timestamp}")
            return
        payload = (ctx.timestamp, image, ctx.input("FRAME"))
        self._held.append((self._index, ctx.timestamp))
        self._release(ctx, self._buffer.push(self._index, payload, regions))
        self._index += 1

    def _release(self, ctx: CalculatorContext, released: list[tuple[int, Any, Detections]]) -> None:
        for _, (ts, image, frame), regions in released:
            self._held.popleft()
            ctx.outputs.add("IMAGE", image, ts)
            ctx.outputs.add("REGIONS", regions, ts)
            if frame is not None:
                ctx.outputs.add("FRAME", frame, ts)
        # Nothing older than the oldest held frame can follow: let downstream nodes move on.
        bound = self._held[0][1] if self._held else ctx.timestamp + 1
        for tag in ("IMAGE", "REGIONS", "FRAME"):
            ctx.outputs.set_bound(tag, bound)

    def close(self, ctx: CalculatorContext) -> None:
        if ctx.graph_error is None:
            for _, (ts, image, frame), regions in self._buffer.flush():
                ctx.outputs.add("IMAGE", image, ts)
                ctx.outputs.add("REGIONS", regions, ts)
                if frame is not None:
                    ctx.outputs.add("FRAME", frame, ts)


@register_calculator
class RedactCalculator(Calculator):
    """IMAGE + REGIONS -> IMAGE, redacted. Options: RedactOptions.

    Shape "hull" follows the face outline: from the optional POLYGONS input (per region, landmark
    pixels), or else from a face mesh run on each region, as the anonymizer does (through the same
    `RegionRedactor`). Stateless: max_in_flight > 1 redacts several frames at once.
    """

    inputs = ("IMAGE", "REGIONS")
    optional_inputs = ("POLYGONS",)
    outputs = ("IMAGE",)
    Options = RedactOptions

    def open(self, ctx: CalculatorContext) -> None:
        self._redact = RegionRedactor(ctx.options, outlines="POLYGONS" not in ctx.inputs)

    def process(self, ctx: CalculatorContext) -> None:
        image, regions = ctx.input("IMAGE"), ctx.input("REGIONS")
        if image is None:
            return
        if regions is None:
            raise ValueError(f"no REGIONS for the frame at timestamp {ctx.timestamp}")
        ctx.outputs.add("IMAGE", self._redact(image, regions, ctx.input("POLYGONS"), inplace=self.in_place))

    in_place = False


@register_calculator
class RedactInPlaceCalculator(RedactCalculator):
    """`RedactCalculator` that redacts the IMAGE packet's own array instead of a copy: only for graphs
    where no other node reads that frame afterwards. The anonymize graph's frames qualify: the finder
    is done with a frame before the tracker and the backfill see its detections, and the backfill
    releases it to redaction `hold` frames later. Saves a frame copy (about 2 ms a 1080p frame in the
    command, with the page faults of a fresh 6 MB array)."""

    in_place = True


def anonymize_video_config(
    options: AnonymizeOptions | None = None,
    *,
    detect_in_flight: int = 2,
    redact_in_flight: int = 2,
    max_frames: int | None = None,
    given_detector: bool = False,
) -> GraphConfig:
    """The anonymize-a-video graph. Side packets: `input_path`, `output_path` (and `detector`, a
    FaceFinder or RGB -> Detections callable, with given_detector=True). Output streams: `regions`
    (what each written frame had redacted) and `redacted`."""
    o = options or AnonymizeOptions()
    b = GraphBuilder()
    b.side_packet("input_path")
    b.side_packet("output_path")
    if given_detector:
        b.side_packet("detector")
    b.output_stream("regions")
    b.output_stream("redacted")
    b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "input_path"},
               outputs={"IMAGE": "frames", "FRAME": "frame_info", "VIDEO": "video"},
               options=VideoDecoderOptions(max_frames=max_frames, copy_audio=o.keep_audio))
    add_face_regions(b, o, detect_in_flight=detect_in_flight, frame_info=True, given_detector=given_detector)
    add_redact_and_encode(b, o, image="held", frame_info="held_info", redact_in_flight=redact_in_flight)
    return b.config


def add_face_regions(b: GraphBuilder, o: AnonymizeOptions, *, detect_in_flight: int = 2, frame_info: bool,
                     given_detector: bool = False) -> None:
    """The anonymizer's regions as nodes, finder -> verify -> tracker -> backfill, for every graph that redacts
    like anonymize (the selective survey too). Reads stream `frames` (and `frame_info` with
    frame_info=True; side packet `detector` with given_detector=True); writes `held` (the frames,
    released in order once their regions are final), `held_info` (with frame_info) and `regions`."""
    detector = {"DETECTOR": "detector"} if given_detector else None
    b.add_node(UncheckedFaceFinderCalculator, name="finder", inputs={"IMAGE": "frames"},
               outputs={"DETECTIONS": "found"}, options=o.detect, max_in_flight=detect_in_flight,
               side_packets=detector)
    cut_in = {}
    if o.cuts is not None:
        b.add_node(SceneCutCalculator, name="cuts", inputs={"IMAGE": "frames"}, outputs={"CUT": "cuts"},
                   options=o.cuts)
        cut_in = {"CUT": "cuts"}
    b.add_node(StreamVerifyCalculator, name="verify", inputs={"IMAGE": "frames", "DETECTIONS": "found", **cut_in},
               outputs={"DETECTIONS": "detections"}, options=o.detect, side_packets=detector)
    b.add_node(FaceTrackerCalculator, name="tracker", inputs={"DETECTIONS": "detections", **cut_in},
               outputs={"REGIONS": "current", "RETRO": "retro"}, options=o.track)
    frame_in, frame_out = ({"FRAME": "frame_info"}, {"FRAME": "held_info"}) if frame_info else ({}, {})
    b.add_node(BackfillCalculator, name="backfill",
               inputs={"IMAGE": "frames", **frame_in, "REGIONS": "current", "RETRO": "retro"},
               outputs={"IMAGE": "held", **frame_out, "REGIONS": "regions"},
               options=BackfillOptions(o.track.hold))


def add_redact_and_encode(b: GraphBuilder, o: AnonymizeOptions, *, image: str, frame_info: str,
                          redact_in_flight: int = 2) -> None:
    """redact (`image` + `regions` -> `redacted`) -> encoder (the frames' timestamps from `frame_info`,
    the decoder's `video` for the audio; side packet `output_path`), as anonymize writes a video. The
    `image` frames are redacted in place (`RedactInPlaceCalculator`): no other node may read them later."""
    b.add_node(RedactInPlaceCalculator, name="redact", inputs={"IMAGE": image, "REGIONS": "regions"},
               outputs={"IMAGE": "redacted"}, options=o.redact, max_in_flight=redact_in_flight)
    b.add_node("VideoEncoderCalculator", name="encoder",
               inputs={"IMAGE": "redacted", "FRAME": frame_info, "VIDEO": "video"},
               side_packets={"PATH": "output_path"},
               options=VideoEncoderOptions(encode=o.video, copy_audio=o.keep_audio))
