"""mp.solutions.face_detection on facepipe.FaceDetector (same models, same numbers)."""

from __future__ import annotations

import facepipe.solutions.face_detection as _fp_face_detection
from facepipe.compat.mediapipe._messages import Detection, LocationData, RelativeBoundingBox, RelativeKeypoint
from facepipe.compat.mediapipe.python.solutions._common import SolutionOutputs, index_enum, unimplemented
from facepipe.compat.mediapipe.python.solutions._solution import Solution

__all__ = ["FaceDetection", "FaceKeyPoint", "get_key_point"]


# MediaPipe's IntEnum, built from facepipe's index constants (the 6 face keypoints).
FaceKeyPoint = index_enum("FaceKeyPoint", _fp_face_detection.FaceKeypoint)


def get_key_point(detection: Detection, key_point_enum: FaceKeyPoint):
    """A face detection's keypoint, as MediaPipe's helper returns it (None for no detection)."""
    if not detection or not detection.location_data:
        return None
    return detection.location_data.relative_keypoints[key_point_enum]


class FaceDetection(Solution):
    """FaceDetection(min_detection_confidence=0.5, model_selection=0): 0 short range, 1 full range."""

    def __init__(self, min_detection_confidence: float = 0.5, model_selection: int = 0) -> None:
        from facepipe import FaceDetector, FaceDetectorOptions

        # MediaPipe's full-range graph keeps its own 0.6 threshold whatever is passed (measured on 0.10.21).
        full = model_selection == 1
        self._impl = FaceDetector(FaceDetectorOptions(model="full" if full else "short",
                                                      min_score=None if full else min_detection_confidence))

    def process(self, image) -> SolutionOutputs:  # noqa: ANN001
        from facepipe.compat.mediapipe.python.solutions._common import check_rgb

        impl = self.__dict__.get("_impl")
        if impl is None:
            raise ValueError("Graph is not started or already closed.")
        dets = impl.detect_relative(check_rgb(image))
        if len(dets) == 0:
            return SolutionOutputs(detections=None)
        detections = []
        for (xmin, ymin), (w, h), kps, score in zip(dets.xyxy[:, :2].tolist(), dets.wh.tolist(),
                                                      dets.keypoints.tolist(), dets.scores.tolist()):
            loc = LocationData(format=LocationData.RELATIVE_BOUNDING_BOX)
            loc.relative_bounding_box.__dict__.update(xmin=xmin, ymin=ymin, width=w, height=h)
            loc.relative_keypoints.extend(RelativeKeypoint(x=x, y=y) for x, y in kps)
            d = Detection(label_id=[0], score=[score])
            d.__dict__["location_data"] = loc
            detections.append(d)
        return SolutionOutputs(detections=detections)


def __getattr__(name: str):
    raise unimplemented(__name__, name, "facepipe.FaceDetector is the native equivalent.")


_ = RelativeBoundingBox  # re-exported type of location_data.relative_bounding_box
