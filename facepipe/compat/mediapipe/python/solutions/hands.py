"""mp.solutions.hands on facepipe.Hands (same models, same numbers)."""

from __future__ import annotations

import enum

from facepipe.compat.mediapipe.python.solutions._common import (
    SolutionOutputs,
    handedness_lists,
    normalized_lists,
    unimplemented,
    world_list,
)
from facepipe.compat.mediapipe.python.solutions._solution import Solution
from facepipe.compat.mediapipe.python.solutions.hands_connections import HAND_CONNECTIONS  # noqa: F401


class HandLandmark(enum.IntEnum):
    WRIST = 0
    THUMB_CMC = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_FINGER_MCP = 5
    INDEX_FINGER_PIP = 6
    INDEX_FINGER_DIP = 7
    INDEX_FINGER_TIP = 8
    MIDDLE_FINGER_MCP = 9
    MIDDLE_FINGER_PIP = 10
    MIDDLE_FINGER_DIP = 11
    MIDDLE_FINGER_TIP = 12
    RING_FINGER_MCP = 13
    RING_FINGER_PIP = 14
    RING_FINGER_DIP = 15
    RING_FINGER_TIP = 16
    PINKY_MCP = 17
    PINKY_PIP = 18
    PINKY_DIP = 19
    PINKY_TIP = 20


class Hands(Solution):
    def __init__(self, static_image_mode: bool = False, max_num_hands: int = 2, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        from facepipe import Hands as _Hands
        from facepipe import HandsOptions

        self._impl = _Hands(HandsOptions(
            static_image_mode=bool(static_image_mode), max_num_hands=max_num_hands,
            model_complexity=model_complexity, min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence))

    def _outputs(self, result) -> SolutionOutputs:  # noqa: ANN001
        if len(result) == 0:
            return SolutionOutputs(multi_hand_landmarks=None, multi_hand_world_landmarks=None, multi_handedness=None)
        return SolutionOutputs(
            multi_hand_landmarks=normalized_lists(result.landmarks),
            multi_hand_world_landmarks=[world_list(w) for w in result.world_landmarks],
            multi_handedness=handedness_lists(result.handedness, result.handedness_score),
        )


def __getattr__(name: str):
    raise unimplemented(__name__, name, "facepipe.Hands is the native equivalent.")
