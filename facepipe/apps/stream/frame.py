"""What one processed video frame sends: the `FaceFrame` every protocol encoder reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.solutions.blendshapes import ARKIT_NAMES

__all__ = ["FaceFrame"]


@dataclass(frozen=True, eq=False)
class FaceFrame:
    """One frame's face, ready to send.

    index: frame number since the stream started (processed or not).
    time_s: the frame's time in seconds (video: presentation time; camera: since the start).
    tracked: False when no face was found: then the values are neutral (zeros, identity rotation).
    blendshapes: (52,) float32 in [0, 1], ARKit order (`ARKIT_NAMES`).
    head_euler_deg: (3,) yaw, pitch, roll in degrees (conventions: `facepipe.apps.stream.pose`).
    head_rotation: (3,3) the rotation those angles describe, camera frame.
    translation_cm: (3,) head position in camera space relative to the calibrated neutral (zeros without one).
    gaze_deg: (2,2) [[left yaw, left pitch], [right yaw, right pitch]] degrees.
    fps: the source's nominal frame rate (used by Live Link's frame time).
    """

    index: int
    time_s: float
    tracked: bool
    blendshapes: np.ndarray
    head_euler_deg: np.ndarray
    head_rotation: np.ndarray
    translation_cm: np.ndarray
    gaze_deg: np.ndarray
    fps: float = 30.0

    def __post_init__(self) -> None:
        for name, shape in (("blendshapes", (len(ARKIT_NAMES),)), ("head_euler_deg", (3,)),
                            ("head_rotation", (3, 3)), ("translation_cm", (3,)), ("gaze_deg", (2, 2))):
            arr = np.asarray(getattr(self, name), np.float32 if name == "blendshapes" else np.float64)
            if arr.shape != shape:
                raise ValueError(f"FaceFrame.{name} must have shape {shape}, got {arr.shape}")
            object.__setattr__(self, name, arr)

    @classmethod
    def neutral(cls, index: int, time_s: float, fps: float = 30.0) -> FaceFrame:
        """The frame sent when no face is tracked."""
        return cls(index, time_s, False, np.zeros(len(ARKIT_NAMES), np.float32), np.zeros(3), np.eye(3),
                   np.zeros(3), np.zeros((2, 2)), fps)
