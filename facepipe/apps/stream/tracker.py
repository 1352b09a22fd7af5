"""Face tracking for streaming: the Tasks Face Landmarker (VIDEO mode, one face) and a blendshape source.

Blendshape sources:
- the Tasks blendshape model (default): its 52 categories (`_neutral` first)
  reordered to ARKit order, `_neutral` dropped, `tongueOut` 0 (not predicted);
- a user regressor (`--blendshapes model.onnx`) with this contract:
  input  float32 (N, 478, 3): the landmarker's landmarks as facepipe returns them
         (x / image width, y / image height, z in x's scale), N faces;
  output float32 (N, 52): blendshape values in ARKit order (`ARKIT_NAMES`, tongueOut last),
         clipped to [0, 1] here. The first input and the first output are used.
  An optional sha256 pins the file (checked before loading).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe.apps.stream.pose import eye_gaze, head_euler
from facepipe.apps.stream.shaping import RawFace
from facepipe.errors import InputError, ModelError
from facepipe.runtime.options import RuntimeOptions
from facepipe.solutions.blendshapes import ARKIT_NAMES, to_arkit
from facepipe.solutions.face_landmarker import NUM_LANDMARKS, FaceLandmarker, FaceLandmarkerOptions, RunningMode

log = logging.getLogger(__name__)

__all__ = ["BlendshapeRegressor", "FaceTracker", "TrackerOptions"]


@dataclass(frozen=True)
class TrackerOptions:
    """Landmarker settings (Tasks names and defaults) and the optional user blendshape regressor."""

    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    num_threads: int | None = 1
    blendshapes_model: Path | None = None
    blendshapes_sha256: str | None = None


class BlendshapeRegressor:
    """A user's landmarks -> 52 ARKit blendshapes ONNX model (contract in the module docstring)."""

    def __init__(self, path: str | Path, *, sha256: str | None = None, num_threads: int | None = 1) -> None:
        from facepipe.runtime.hashing import sha256_file
        from facepipe.runtime.model import Model, ModelLoadError

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such blendshape model file")
        if self.path.suffix.lower() != ".onnx":
            raise InputError(f"{self.path}: a blendshape regressor must be an .onnx file")
        if sha256 is not None:
            got = sha256_file(self.path)
            if got.lower() != sha256.strip().lower():
                raise ModelError(f"{self.path}: sha256 is {got}, expected {sha256.strip().lower()}")
        try:
            self._model = Model(self.path, num_threads=num_threads)
        except ModelLoadError as exc:
            raise ModelError(str(exc)) from exc
        shape_in, shape_out = self._model.inputs[0].shape, self._model.outputs[0].shape
        if len(shape_in) != 3 or shape_in[1] not in (-1, NUM_LANDMARKS) or shape_in[2] not in (-1, 3):
            raise ModelError(f"{self.path}: input must be (N, {NUM_LANDMARKS}, 3) landmarks, "
                             f"the model wants {shape_in}")
        if len(shape_out) != 2 or shape_out[1] not in (-1, len(ARKIT_NAMES)):
            raise ModelError(f"{self.path}: output must be (N, {len(ARKIT_NAMES)}) ARKit blendshapes, "
                             f"the model gives {shape_out}")

    def __call__(self, landmarks: np.ndarray) -> np.ndarray:
        """(N, 52) ARKit-order values in [0, 1] from (N, 478, 3) normalized landmarks."""
        lm = np.asarray(landmarks, np.float32)
        extra = [np.zeros((len(lm), *[max(d, 1) for d in s.shape[1:]]), s.dtype) for s in self._model.inputs[1:]]
        out = np.asarray(self._model.run(lm, *extra)[0], np.float32)
        if out.shape != (len(lm), len(ARKIT_NAMES)):
            raise ModelError(f"{self.path}: returned shape {out.shape}, expected ({len(lm)}, {len(ARKIT_NAMES)})")
        return np.clip(np.nan_to_num(out, nan=0.0), 0.0, 1.0)


class FaceTracker:
    """Tracks one face through a stream of frames: RawFace per frame. One instance per stream."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = o = options or TrackerOptions()
        self.regressor = (BlendshapeRegressor(o.blendshapes_model, sha256=o.blendshapes_sha256,
                                              num_threads=o.num_threads)
                          if o.blendshapes_model is not None else None)
        try:
            lm_options = FaceLandmarkerOptions(
                num_faces=1,
                min_face_detection_confidence=o.min_detection_confidence,
                min_face_presence_confidence=o.min_presence_confidence,
                min_tracking_confidence=o.min_tracking_confidence,
                output_face_blendshapes=self.regressor is None,
                output_facial_transformation_matrixes=True,
                running_mode=RunningMode.VIDEO,
                runtime=RuntimeOptions(num_threads=o.num_threads),
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        self.landmarker = FaceLandmarker(lm_options)

    def track(self, image: np.ndarray, timestamp_ms: int) -> RawFace:
        """Measure the face in one RGB frame; timestamps must increase."""
        result = self.landmarker.detect_for_video(image, timestamp_ms)
        m = result.transformation_matrices
        if len(result) == 0 or m is None or not np.isfinite(m[0]).all():
            return RawFace(False, np.zeros(len(ARKIT_NAMES), np.float32), np.zeros(3), np.zeros(3),
                           np.zeros((2, 2)))
        if self.regressor is not None:
            shapes = self.regressor(result.landmarks[:1])[0]
        elif result.blendshapes is not None:  # requested in __init__ when there is no regressor
            shapes = to_arkit(result.blendshapes[0])
        else:  # pragma: no cover
            shapes = np.zeros(len(ARKIT_NAMES), np.float32)
        euler, translation = head_euler(m[0])
        return RawFace(True, shapes, euler, translation, eye_gaze(result.landmarks[0], result.image_size))
