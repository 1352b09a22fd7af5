"""facepipe: MediaPipe-class perception in plain Python on the official models.

The solutions are importable from the top level; they are loaded on first use so
that `import facepipe` stays cheap (no OpenCV/LiteRT import until needed).
"""

from __future__ import annotations

import importlib
from typing import Any

from facepipe._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "Detections": "facepipe.results",
    "box_iou": "facepipe.results",
    "Landmarks": "facepipe.results",
    "FacepipeError": "facepipe.errors",
    "InputError": "facepipe.errors",
    "ModelError": "facepipe.errors",
    "ProcessingError": "facepipe.errors",
    "ModelLoadError": "facepipe.runtime.model",
    "read_image": "facepipe.io.image",
    "write_image": "facepipe.io.image",
    "resolve_model": "facepipe.runtime.store",
    "RuntimeOptions": "facepipe.runtime.options",
    "FaceDetector": "facepipe.solutions.face_detection",
    "FaceDetectorOptions": "facepipe.solutions.face_detection",
    "FaceKeypoint": "facepipe.solutions.face_detection",
    "FaceMesh": "facepipe.solutions.face_mesh",
    "FaceMeshOptions": "facepipe.solutions.face_mesh",
    "FaceMeshResult": "facepipe.solutions.face_mesh",
    "FaceLandmarker": "facepipe.solutions.face_landmarker",
    "FaceLandmarkerOptions": "facepipe.solutions.face_landmarker",
    "FaceLandmarkerResult": "facepipe.solutions.face_landmarker",
    "RunningMode": "facepipe.solutions.face_landmarker",
    "Hands": "facepipe.solutions.hands",
    "HandsOptions": "facepipe.solutions.hands",
    "HandsResult": "facepipe.solutions.hands",
    "Pose": "facepipe.solutions.pose",
    "PoseOptions": "facepipe.solutions.pose",
    "PoseResult": "facepipe.solutions.pose",
    "PoseLandmark": "facepipe.solutions.pose",
    "Holistic": "facepipe.solutions.holistic",
    "HolisticOptions": "facepipe.solutions.holistic",
    "HolisticResult": "facepipe.solutions.holistic",
    "SelfieSegmentation": "facepipe.solutions.selfie_segmentation",
    "FaceEmbedder": "facepipe.solutions.face_embedder",
    "DlibFaceEmbedder": "facepipe.solutions.face_embedder",
    "OnnxFaceEmbedder": "facepipe.solutions.face_embedder",
    "five_point_landmarks": "facepipe.solutions.face_embedder",
    "SelfieSegmentationOptions": "facepipe.solutions.selfie_segmentation",
    "SegmentationResult": "facepipe.solutions.selfie_segmentation",
    "annotate": "facepipe.draw.annotate",
    "Anonymizer": "facepipe.apps.anonymize",
    "AnonymizeOptions": "facepipe.apps.anonymize",
    "RedactOptions": "facepipe.apps.anonymize",
    "FaceFinder": "facepipe.apps.anonymize",
    "FaceFinderOptions": "facepipe.apps.anonymize",
    "anonymize_paths": "facepipe.apps.anonymize",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'facepipe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
