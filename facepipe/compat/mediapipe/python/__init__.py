"""mediapipe.python: the solutions and the Image type."""

from facepipe.compat.mediapipe._image import Image, ImageFormat  # noqa: F401
from facepipe.compat.mediapipe.python import solutions  # noqa: F401


def __getattr__(name: str):
    from facepipe.compat.mediapipe.python.solutions._common import unimplemented

    raise unimplemented(__name__, name, "Only `solutions`, `Image` and `ImageFormat` are provided; MediaPipe's "
                                        "graph API (CalculatorGraph, packets) has facepipe.graph as its equivalent.")
