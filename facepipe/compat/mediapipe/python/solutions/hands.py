"""mp.solutions.hands on facepipe.Hands (same models, same numbers)."""

from __future__ import annotations

import facepipe.solutions.hands as _fp_hands
from facepipe.compat.mediapipe.python.solutions._common import (
    SolutionOutputs,
    handedness_lists,
    index_enum,
    normalized_lists,
    unimplemented,
    world_list,
)
from facepipe.compat.mediapipe.python.solutions._solution import Solution
from facepipe.compat.mediapipe.python.solutions.hands_connections import HAND_CONNECTIONS  # noqa: F401

# MediaPipe's IntEnum, built from facepipe's index constants (the 21 hand landmarks).
HandLandmark = index_enum("HandLandmark", _fp_hands.HandLandmark)


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
