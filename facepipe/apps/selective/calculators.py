"""Selective anonymization as graph nodes, and its two graphs.

Pass 1 (`survey_video_config`): the anonymizer's own nodes, then the survey:

    decoder -> finder -> verify -> tracker -> backfill -> TrackSurveyCalculator -> SURVEY (after the last frame)

Pass 2 (`render_video_config`), once the segments are decided (`decide_segments`):

    decoder -> SurveyRegionsCalculator -> SelectiveRedactCalculator -> encoder
    (frames, timestamps and audio as anonymize)

Between them the caller decides every segment; the survey and the verdicts reach pass 2 as side
packets. The finder and the redaction run several frames at once (max_in_flight), as in anonymize.
"""

from __future__ import annotations

from facepipe.apps.anonymize.calculators import add_face_regions
from facepipe.apps.anonymize.options import RedactOptions
from facepipe.apps.anonymize.pipeline import RegionRedactor
from facepipe.apps.selective.decide import masked_regions, redact_selected
from facepipe.apps.selective.options import SelectiveOptions, TrackSampling
from facepipe.apps.selective.survey import TrackSurveyor
from facepipe.calculators.video import VideoDecoderOptions, VideoEncoderOptions
from facepipe.graph import Calculator, CalculatorContext, GraphBuilder, GraphConfig, register_calculator
from facepipe.stages.scene_cuts import SceneCutDetector

__all__ = ["SelectiveRedactCalculator", "SurveyRegionsCalculator", "TrackSurveyCalculator", "render_video_config",
           "survey_video_config"]


@register_calculator
class TrackSurveyCalculator(Calculator):
    """IMAGE + REGIONS (every frame with all its regions, in order, as the backfill node releases
    them) -> SURVEY (one `Survey` after the last frame). Side packet CHOSEN: the `ChosenPeople`.
    Options: TrackSampling. Scenes are cut on the frames as they come (`TrackSampling.cuts`)."""

    inputs = ("IMAGE", "REGIONS")
    outputs = ("SURVEY",)
    side_packets = ("CHOSEN",)
    Options = TrackSampling

    def open(self, ctx: CalculatorContext) -> None:
        self._surveyor = TrackSurveyor(ctx.side_packets["CHOSEN"], ctx.options)
        self._cuts = SceneCutDetector(ctx.options.cuts) if ctx.options.cuts is not None else None
        self._scene = 0
        self._index = 0

    def process(self, ctx: CalculatorContext) -> None:
        image, regions = ctx.input("IMAGE"), ctx.input("REGIONS")
        if image is None or regions is None:
            if image is not None:
                raise ValueError(f"no REGIONS for the frame at timestamp {ctx.timestamp}")
            return
        self._scene += self._cuts is not None and self._cuts.starts_shot(image)
        self._surveyor.add(self._index, image, regions, self._scene)
        self._index += 1

    def close(self, ctx: CalculatorContext) -> None:
        if ctx.graph_error is None:
            ctx.outputs.add("SURVEY", self._surveyor.finish())


@register_calculator
class SurveyRegionsCalculator(Calculator):
    """IMAGE -> REGIONS: the regions of this frame to redact, from side packets SURVEY (pass 1) and
    VERDICTS (`decide_segments`), and INDEX: its frame number. Frames are counted as they come (the
    n-th IMAGE is frame n); a frame the survey does not have is an error (fail closed: never
    written unredacted)."""

    inputs = ("IMAGE",)
    outputs = ("REGIONS", "INDEX")
    side_packets = ("SURVEY", "VERDICTS")

    def open(self, ctx: CalculatorContext) -> None:
        self._survey = ctx.side_packets["SURVEY"]
        self._verdicts = ctx.side_packets["VERDICTS"]
        self._index = 0

    def process(self, ctx: CalculatorContext) -> None:
        if ctx.input("IMAGE") is None:
            return
        if self._index >= len(self._survey.regions):
            raise ValueError(f"frame {self._index} is not in the survey ({len(self._survey.regions)} frames)")
        ctx.outputs.add("REGIONS", masked_regions(self._survey, self._verdicts, self._index))
        ctx.outputs.add("INDEX", self._index)
        self._index += 1


@register_calculator
class SelectiveRedactCalculator(Calculator):
    """IMAGE + INDEX (its frame number, from SurveyRegionsCalculator) -> IMAGE, redacted as
    `decide.redact_selected` does: the frame's masked regions, with the visible chosen faces kept out
    of much larger masked regions around them. Side packets SURVEY, VERDICTS; options RedactOptions
    (the anonymizer's). Stateless: max_in_flight > 1 redacts several frames at once."""

    inputs = ("IMAGE", "INDEX")
    outputs = ("IMAGE",)
    side_packets = ("SURVEY", "VERDICTS")
    Options = RedactOptions

    def open(self, ctx: CalculatorContext) -> None:
        self._redact = RegionRedactor(ctx.options)
        self._mask_scale = ctx.options.effective_mask_scale
        self._survey = ctx.side_packets["SURVEY"]
        self._verdicts = ctx.side_packets["VERDICTS"]

    def process(self, ctx: CalculatorContext) -> None:
        image, index = ctx.input("IMAGE"), ctx.input("INDEX")
        if image is None:
            return
        if index is None:
            raise ValueError(f"no INDEX for the frame at timestamp {ctx.timestamp}")
        if index >= len(self._survey.regions):
            raise ValueError(f"frame {index} is not in the survey ({len(self._survey.regions)} frames)")
        ctx.outputs.add("IMAGE", redact_selected(self._redact, image, self._survey, self._verdicts, index,
                                                 self._mask_scale))


def survey_video_config(options: SelectiveOptions, *, detect_in_flight: int = 2,
                        max_frames: int | None = None) -> GraphConfig:
    """Pass 1. Side packets: `input_path`, `chosen` (ChosenPeople). Output streams: `survey`, and
    `regions` (each frame's regions, as plain anonymize redacts them)."""
    o = options.anonymize
    b = GraphBuilder()
    b.side_packet("input_path")
    b.side_packet("chosen")
    b.output_stream("survey")
    b.output_stream("regions")
    b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "input_path"},
               outputs={"IMAGE": "frames"}, options=VideoDecoderOptions(max_frames=max_frames, copy_audio=False))
    add_face_regions(b, o, detect_in_flight=detect_in_flight, frame_info=False)
    b.add_node(TrackSurveyCalculator, name="survey", inputs={"IMAGE": "held", "REGIONS": "regions"},
               outputs={"SURVEY": "survey"}, side_packets={"CHOSEN": "chosen"}, options=options.sampling)
    return b.config


def render_video_config(options: SelectiveOptions, *, redact_in_flight: int = 2,
                        max_frames: int | None = None) -> GraphConfig:
    """Pass 2. Side packets: `input_path`, `output_path`, `survey`, `verdicts`. Output streams:
    `regions` (what each written frame had redacted) and `redacted`."""
    o = options.anonymize
    b = GraphBuilder()
    for name in ("input_path", "output_path", "survey", "verdicts"):
        b.side_packet(name)
    b.output_stream("regions")
    b.output_stream("redacted")
    b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "input_path"},
               outputs={"IMAGE": "frames", "FRAME": "frame_info", "VIDEO": "video"},
               options=VideoDecoderOptions(max_frames=max_frames, copy_audio=o.keep_audio))
    b.add_node(SurveyRegionsCalculator, name="select", inputs={"IMAGE": "frames"},
               outputs={"REGIONS": "regions", "INDEX": "index"},
               side_packets={"SURVEY": "survey", "VERDICTS": "verdicts"})
    b.add_node(SelectiveRedactCalculator, name="redact", inputs={"IMAGE": "frames", "INDEX": "index"},
               outputs={"IMAGE": "redacted"}, side_packets={"SURVEY": "survey", "VERDICTS": "verdicts"},
               options=o.redact,
               max_in_flight=redact_in_flight)
    b.add_node("VideoEncoderCalculator", name="encoder",
               inputs={"IMAGE": "redacted", "FRAME": "frame_info", "VIDEO": "video"},
               side_packets={"PATH": "output_path"},
               options=VideoEncoderOptions(encode=o.video, copy_audio=o.keep_audio))
    return b.config
