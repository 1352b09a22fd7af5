"""Hand landmark model on hand ROIs (reference 5.4) and landmarks -> next-frame ROI (5.5, 5.6).

Shared by `hands` (palm-detected / tracked ROIs) and `holistic` (ROIs from the pose).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.runtime.options import RuntimeOptions, fold_legacy_options
from facepipe.stages.image_to_tensor import BORDER_REPLICATE, crop_geometry, warp_to_tensor
from facepipe.stages.projection import project_landmarks, remove_letterbox_points, rotate_world_landmarks
from facepipe.stages.rects import hand_rects_from_landmarks, transform_rects

__all__ = ["HandLandmarkModel", "HandLandmarkOutput", "hand_rects_for_next_frame", "NUM_HAND_LANDMARKS"]

NUM_HAND_LANDMARKS = 21
_INPUT = 224
_NORMALIZE_Z = 0.4
_MODEL_NAMES = {0: "hand_landmark_lite", 1: "hand_landmark_full"}


@dataclass(frozen=True)
class HandLandmarkOutput:
    """Per-ROI outputs, before any presence gate.

    landmarks: (N,21,3) image-normalized; world_landmarks: (N,21,3) metres, rotated by the ROI;
    presence: (N,) hand flag (a probability); left_score: (N,) MediaPipe's "Left" score s
    (its "Right" score is 1 - s).
    """

    landmarks: np.ndarray
    world_landmarks: np.ndarray
    presence: np.ndarray
    left_score: np.ndarray


class HandLandmarkModel:
    """hand_landmark_lite/full on a batch of ROIs of one image."""

    def __init__(self, model_complexity: int = 1, *, runtime: RuntimeOptions | None = None,
                 model_path: str | None = None, num_threads: int | None = None) -> None:
        if model_complexity not in _MODEL_NAMES:
            raise ValueError(f"hand model_complexity must be 0 or 1, got {model_complexity}")
        name = _MODEL_NAMES[model_complexity]
        runtime = fold_legacy_options("HandLandmarkModel", runtime or RuntimeOptions(), num_threads, _stacklevel=3,
                                      **{name: model_path})
        self.model = runtime.load(name)

    def run(self, image: np.ndarray, rois: np.ndarray) -> HandLandmarkOutput:
        rois = np.asarray(rois, np.float32).reshape(-1, 5)
        n = len(rois)
        if n == 0:
            z = np.zeros((0, NUM_HAND_LANDMARKS, 3), np.float32)
            return HandLandmarkOutput(z, z.copy(), np.zeros(0, np.float32), np.zeros(0, np.float32))
        size = (image.shape[1], image.shape[0])
        geos = [crop_geometry(size, r, _INPUT, _INPUT, keep_aspect=True) for r in rois]

        def fill(ins: list[np.ndarray]) -> None:
            # Crops go straight into the interpreter's input (no batch array, no input copy).
            for k, g in enumerate(geos):
                warp_to_tensor(image, g.warp, ins[0][k], border=BORDER_REPLICATE, value_range=(0.0, 1.0))

        raw_lm, flag, handed, raw_world = self.model.run_filled(n, fill)
        lm = raw_lm.reshape(n, NUM_HAND_LANDMARKS, 3) / np.float32(_INPUT)
        lm[..., 2] /= np.float32(_NORMALIZE_Z)
        world = raw_world.reshape(n, NUM_HAND_LANDMARKS, 3)
        padding = np.stack([g.padding for g in geos])
        out_lm = project_landmarks(remove_letterbox_points(lm, padding), rois)
        out_world = rotate_world_landmarks(world, rois[:, 4:5])
        return HandLandmarkOutput(out_lm, out_world, flag.reshape(n).astype(np.float32),
                                  handed.reshape(n).astype(np.float32))


def hand_rects_for_next_frame(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N,5) tracking ROIs from (N,21,>=2) landmarks: palm rotated box, x2.0, shift_y -0.1, square."""
    rects = hand_rects_from_landmarks(landmarks, image_size)
    return transform_rects(rects, image_size, scale_x=2.0, scale_y=2.0, shift_y=-0.1, square_long=True)
