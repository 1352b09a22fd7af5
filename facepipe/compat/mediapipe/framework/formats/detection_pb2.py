"""Detection messages (light stand-ins for mediapipe/framework/formats/detection_pb2)."""

from facepipe.compat.mediapipe._messages import Detection, DetectionList  # noqa: F401
