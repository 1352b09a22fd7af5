"""`import facepipe.compat.mediapipe as mp`: MediaPipe's Python API (0.10.21) on facepipe.

mp.solutions.* (the legacy solutions and drawing), mp.tasks (BaseOptions and the
vision tasks FaceDetector, FaceLandmarker, HandLandmarker, PoseLandmarker),
mp.Image / mp.ImageFormat, and the message types of mediapipe.framework.formats.
Results are light Python objects with MediaPipe's fields (no protobuf); the
numbers are facepipe's, which match mediapipe 0.10.21's.

Anything else raises AttributeError naming the facepipe equivalent.
"""

import sys

from facepipe.compat.mediapipe import framework, python, tasks  # noqa: F401
from facepipe.compat.mediapipe._image import Image, ImageFormat  # noqa: F401
from facepipe.compat.mediapipe.python import solutions

__version__ = "0.10.21"  # the MediaPipe release whose API and numbers this reproduces

# `mediapipe.solutions.x` as a module path, as well as the attribute `mp.solutions.x`.
sys.modules[__name__ + ".solutions"] = solutions
for _name in ("drawing_styles", "drawing_utils", "face_detection", "face_mesh", "face_mesh_connections", "hands",
              "hands_connections", "holistic", "pose", "pose_connections", "selfie_segmentation"):
    sys.modules[f"{__name__}.solutions.{_name}"] = getattr(solutions, _name)
del _name

_HINTS = {
    "CalculatorGraph": "facepipe.graph runs calculator graphs written in Python.",
    "ImageFrame": "facepipe takes numpy arrays directly.",
    "Packet": "facepipe.graph.Packet is the native equivalent.",
}


def __getattr__(name: str):
    raise AttributeError(
        f"module 'mediapipe' has no attribute {name!r}: not implemented in facepipe.compat. "
        + _HINTS.get(name, "See docs/migrating-from-mediapipe.md for what is covered.")
    )
