"""Face landmarks as graph nodes: the legacy FaceMesh and the Tasks FaceLandmarker.

Both track faces from frame to frame in video mode, so each node handles one
stream in timestamp order (keep max_in_flight at 1). Packet timestamps (µs) are
passed on as the solutions' millisecond timestamps.
"""

from __future__ import annotations

from facepipe.graph import Calculator, CalculatorContext, register_calculator
from facepipe.solutions.face_landmarker import FaceLandmarker, FaceLandmarkerOptions, RunningMode
from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

__all__ = ["FaceMeshCalculator", "FaceLandmarkerCalculator"]


@register_calculator
class FaceMeshCalculator(Calculator):
    """IMAGE -> LANDMARKS (FaceMeshResult). Options: FaceMeshOptions (static_image_mode=False tracks)."""

    inputs = ("IMAGE",)
    outputs = ("LANDMARKS",)
    Options = FaceMeshOptions

    def open(self, ctx: CalculatorContext) -> None:
        self._mesh = FaceMesh(ctx.options)

    def process(self, ctx: CalculatorContext) -> None:
        image = ctx.input("IMAGE")
        if image is not None:
            ctx.outputs.add("LANDMARKS", self._mesh.process(image, timestamp_ms=ctx.timestamp / 1000.0))

    def close(self, ctx: CalculatorContext) -> None:
        self._mesh.close()


@register_calculator
class FaceLandmarkerCalculator(Calculator):
    """IMAGE -> LANDMARKS (FaceLandmarkerResult: landmarks, blendshapes, head pose as configured).

    Options: FaceLandmarkerOptions; running_mode "video" tracks and smooths across frames,
    "image" treats every frame alone. "live_stream" does not apply (use a FlowLimiterCalculator).
    """

    inputs = ("IMAGE",)
    outputs = ("LANDMARKS",)
    Options = FaceLandmarkerOptions

    def open(self, ctx: CalculatorContext) -> None:
        if ctx.options.running_mode is RunningMode.LIVE_STREAM:
            raise ValueError("running_mode live_stream does not apply in a graph;"
                             " use video and a FlowLimiterCalculator")
        self._video = ctx.options.running_mode is RunningMode.VIDEO
        self._landmarker = FaceLandmarker(ctx.options)

    def process(self, ctx: CalculatorContext) -> None:
        image = ctx.input("IMAGE")
        if image is None:
            return
        if self._video:
            result = self._landmarker.detect_for_video(image, ctx.timestamp // 1000)
        else:
            result = self._landmarker.detect(image)
        ctx.outputs.add("LANDMARKS", result)

    def close(self, ctx: CalculatorContext) -> None:
        self._landmarker.close()
