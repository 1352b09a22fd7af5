"""Face blendshapes: 52 expression scores from 478 face landmarks (MediaPipe's face_blendshapes.tflite).

The model reads 146 of the 478 landmarks as (x * image_width, y * image_height)
pixel pairs, in the order below, and returns 52 raw scores in [0, 1] (no
activation is applied). Names follow the model's own label list, `_neutral`
first. "Left"/"Right" in a name are copied from MediaPipe as-is.

`to_arkit` reorders scores into Apple ARKit's 52-blendshape order (the order
of ARFaceAnchor.BlendShapeLocation as listed by Apple and used by Live Link
Face CSVs). ARKit has `tongueOut`, which the model does not predict: it is
present and always 0. ARKit has no `_neutral`, so that score is dropped.

Index list and names: data tables from mediapipe/tasks/cc/vision/face_landmarker/
face_blendshapes_graph.cc (Apache-2.0), see docs reference section 10.2.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from facepipe.runtime.model import Model
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options

__all__ = [
    "ARKIT_NAMES",
    "BLENDSHAPE_NAMES",
    "BlendshapeModel",
    "LANDMARK_SUBSET",
    "blendshape_input",
    "names_in",
    "to_arkit",
]

# fmt: off
LANDMARK_SUBSET = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39,
    40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80,
    81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133,
    136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160,
    161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246,
    249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295,
    296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334,
    336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382,
    384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454,
    466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477,
], np.intp)
LANDMARK_SUBSET.flags.writeable = False

BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight",
)

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawLeft", "jawRight", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)
# fmt: on

_MODEL_INDEX = {name: i for i, name in enumerate(BLENDSHAPE_NAMES)}
# Column of the model output feeding each ARKit slot; -1 for tongueOut (not predicted).
_ARKIT_FROM_MODEL = np.array([_MODEL_INDEX.get(name, -1) for name in ARKIT_NAMES], np.intp)


def to_arkit(scores: np.ndarray) -> np.ndarray:
    """Reorder (..., 52) model-order scores into ARKit order; `tongueOut` (last) is always 0."""
    s = np.asarray(scores, np.float32)
    if s.shape[-1] != len(BLENDSHAPE_NAMES):
        raise ValueError(f"expected (..., {len(BLENDSHAPE_NAMES)}) blendshape scores, got {s.shape}")
    out = s[..., np.maximum(_ARKIT_FROM_MODEL, 0)]
    out[..., _ARKIT_FROM_MODEL < 0] = 0.0
    return out


def blendshape_input(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """(N,146,2) model input from (N,478,>=2) normalized landmarks: the subset in pixels (x*W, y*H)."""
    lm = np.asarray(landmarks, np.float32)
    if lm.ndim != 3 or lm.shape[1] < 478 or lm.shape[2] < 2:
        raise ValueError(f"blendshapes need (N, 478, >=2) landmarks, got {lm.shape}")
    w, h = image_size
    return lm[:, LANDMARK_SUBSET, :2] * np.array([w, h], np.float32)


class BlendshapeModel:
    """Runs face_blendshapes.tflite on landmarks of many faces.

    The model's graph hard-codes a batch of 1 (its reshapes are fixed and XNNPACK
    refuses a resize), so faces run one after another on the same interpreter
    (~0.3 ms each) instead of as one batch.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, runtime: RuntimeOptions | None = None,
                 num_threads: int | None = None) -> None:
        """path: the model file (default: the registered face_blendshapes, or runtime.model_paths')."""
        runtime = fold_legacy_options("BlendshapeModel", runtime or RuntimeOptions(), num_threads, _stacklevel=3)
        self._model = Model(path, num_threads=runtime.num_threads) if path is not None else runtime.load(
            "face_blendshapes")

    def __call__(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
        """(N,52) float32 scores, model order (see BLENDSHAPE_NAMES)."""
        x = blendshape_input(landmarks, image_size)
        out = np.empty((len(x), len(BLENDSHAPE_NAMES)), np.float32)
        for i in range(len(x)):
            out[i] = self._model.run(x[i : i + 1])[0].reshape(-1)
        return out


def names_in(order: str = "model") -> Sequence[str]:
    """Names for `order` "model" (52, `_neutral` first) or "arkit" (52, `tongueOut` last)."""
    if order == "model":
        return BLENDSHAPE_NAMES
    if order == "arkit":
        return ARKIT_NAMES
    raise ValueError(f"unknown blendshape order {order!r}; use 'model' or 'arkit'")
