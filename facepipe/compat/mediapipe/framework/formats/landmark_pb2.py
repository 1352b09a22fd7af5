"""Landmark messages (light stand-ins for mediapipe/framework/formats/landmark_pb2)."""

from facepipe.compat.mediapipe._messages import (  # noqa: F401
    Landmark,
    LandmarkList,
    LandmarkListCollection,
    NormalizedLandmark,
    NormalizedLandmarkList,
    NormalizedLandmarkListCollection,
)
