"""Raw tracker output -> what is sent: neutral calibration, per-shape gain/curve, forced zeros, One-Euro.

Order: calibration (value -> (value - neutral) / (1 - neutral), head angles,
position and gaze relative to the neutral's), gain and curve, clip to [0, 1],
forced zeros, then One-Euro smoothing with the frames' real timestamps (the
filters restart after a frame without a face, so a face that reappears does
not glide in from where it left).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from facepipe.apps.stream.config import Calibration, StreamConfig
from facepipe.apps.stream.frame import FaceFrame
from facepipe.apps.stream.pose import head_euler, rotation_from_euler
from facepipe.stages.filters import OneEuroFilter

__all__ = ["RawFace", "Shaper"]


@dataclass(frozen=True, eq=False)
class RawFace:
    """One frame's measurement before shaping: ARKit-order blendshapes (52,), head yaw/pitch/roll (deg),
    head position (cm, camera space), gaze (2,2 deg). `found` is False when no face was tracked."""

    found: bool
    blendshapes: np.ndarray
    head_euler_deg: np.ndarray
    translation_cm: np.ndarray
    gaze_deg: np.ndarray


class Shaper:
    """Turns RawFace measurements into FaceFrames. One instance per stream (it holds filter state)."""

    def __init__(self, config: StreamConfig | None = None, calibration: Calibration | None = None) -> None:
        self.config = config or StreamConfig()
        self._gain, self._curve, self._keep = self.config.shapes.arrays()
        self.calibration = calibration
        s = self.config.smoothing
        self._shape_filter = OneEuroFilter(s.shapes_min_cutoff, s.shapes_beta) if s.enabled else None
        self._pose_filter = OneEuroFilter(s.pose_min_cutoff, s.pose_beta) if s.enabled else None
        self._lock = threading.Lock()

    def set_calibration(self, calibration: Calibration | None) -> None:
        with self._lock:
            self.calibration = calibration

    def __call__(self, raw: RawFace, index: int, time_s: float, fps: float = 30.0) -> FaceFrame:
        with self._lock:
            if not raw.found:
                for f in (self._shape_filter, self._pose_filter):
                    if f is not None:
                        f.reset()
                return FaceFrame.neutral(index, time_s, fps)
            values = np.asarray(raw.blendshapes, np.float32)
            euler = np.asarray(raw.head_euler_deg, np.float64)
            gaze = np.asarray(raw.gaze_deg, np.float64)
            translation = np.zeros(3)
            cal = self.calibration
            if cal is not None:
                values = (values - cal.blendshapes) / np.maximum(1.0 - cal.blendshapes, 1e-3)
                # Rotation relative to the neutral head: R_rel = R R_neutral^T, back to angles.
                r_rel = rotation_from_euler(*euler) @ rotation_from_euler(*cal.head_euler_deg).T
                euler = _euler_from_rotation(r_rel)
                gaze = gaze - cal.gaze_deg
                translation = np.asarray(raw.translation_cm, np.float64) - cal.translation_cm
            values = np.clip(values, 0.0, 1.0)
            values = np.clip(self._gain * values ** self._curve, 0.0, 1.0) * self._keep
            if self._shape_filter is not None and self._pose_filter is not None:
                values = np.clip(self._shape_filter(values, time_s), 0.0, 1.0) * self._keep
                pose = self._pose_filter(np.concatenate([euler, translation, gaze.reshape(-1)]), time_s)
                pose = pose.astype(np.float64)
                euler, translation, gaze = pose[:3], pose[3:6], pose[6:].reshape(2, 2)
            return FaceFrame(index, time_s, True, values.astype(np.float32), euler,
                             rotation_from_euler(*euler), translation, gaze, fps)


def _euler_from_rotation(r: np.ndarray) -> np.ndarray:
    """Yaw, pitch, roll (deg) of R = Ry(yaw) Rx(-pitch) Rz(roll) (as face_geometry.head_pose decomposes)."""
    m = np.eye(4)
    m[:3, :3] = r
    return head_euler(m)[0]
