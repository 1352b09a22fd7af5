"""Face detection as a graph node."""

from __future__ import annotations

from facepipe.graph import Calculator, CalculatorContext, register_calculator
from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions

__all__ = ["FaceDetectorCalculator"]


@register_calculator
class FaceDetectorCalculator(Calculator):
    """IMAGE (RGB uint8) -> DETECTIONS (facepipe.results.Detections, image pixels).

    Optional ROI: a normalized (x_center, y_center, width, height, rotation) region to search in.
    Options: FaceDetectorOptions (model, min_score, nms_iou, num_threads). Stateless: run it with
    max_in_flight > 1 to detect several frames at once (each call slot gets its own model).
    """

    inputs = ("IMAGE",)
    optional_inputs = ("ROI",)
    outputs = ("DETECTIONS",)
    Options = FaceDetectorOptions

    def open(self, ctx: CalculatorContext) -> None:
        self._detector = FaceDetector(ctx.options)

    def process(self, ctx: CalculatorContext) -> None:
        image = ctx.input("IMAGE")
        if image is not None:
            ctx.outputs.add("DETECTIONS", self._detector.detect(image, ctx.input("ROI")))
