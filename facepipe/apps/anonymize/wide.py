"""BlazeFace full range on a view of any size: one model call for a whole tile level.

The full-range model is fully convolutional up to its last 1x1 convolutions (one
anchor per 4x4 cell), so on a W x H input it scores every 4x4 cell of the view at
once, as overlapping 192² tiles would, but without their overlap (a 720p frame's
finest level is 32 tiles with 2.6x the frame's area; `FaceFinderOptions.wide_tile`)
and without their edges (a face cut by one tile's edge had to be found whole in
the next one). The model file is rewritten for each input size
(`runtime.tflite_split.spatially_resized`) and loaded once per size.
"""

from __future__ import annotations

import math
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

from facepipe.results import Detections
from facepipe.runtime.model import Model
from facepipe.runtime.options import RuntimeOptions
from facepipe.runtime.tflite_split import spatially_resized
from facepipe.stages.detection_decode import decode_detections, weighted_nms

__all__ = ["WIDE_MODELS", "WideFaceDetector", "wide_shape"]

# Detector model name -> registered file: the full-range BlazeFace files.
WIDE_MODELS = {"full_dense": "face_detection_full_range", "full": "face_detection_full_range_sparse"}
_STRIDE = 4  # one anchor per 4x4 input cell
_ALIGN = 32  # the coarsest feature map (6x6 at 192²) must keep a whole size
# uint8 -> [-1, 1], BlazeFace's input range (image_to_tensor's mapping).
_TO_RANGE = (np.arange(256, dtype=np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)).reshape(1, 256)


def wide_shape(width: int, height: int) -> tuple[int, int]:
    """The input (height, width) a view of width x height pixels is padded to."""
    return _ALIGN * math.ceil(height / _ALIGN), _ALIGN * math.ceil(width / _ALIGN)


class WideFaceDetector:
    """Faces in an RGB uint8 view of any size, in the view's pixels (full-range BlazeFace).

    The view sits at the input's top left; the rest of the input is black, as the 192² model's
    letterbox. Thread-safe (each input size's model has its lock).
    """

    def __init__(self, model: str, *, min_score: float, nms_iou: float = 0.3,
                 runtime: RuntimeOptions | None = None) -> None:
        if model not in WIDE_MODELS:
            raise ValueError(f"no wide form of {model!r}; choose one of {sorted(WIDE_MODELS)}")
        self.model = model
        self.min_score, self.nms_iou = min_score, nms_iou
        self._runtime = runtime or RuntimeOptions()
        self._buf: bytes | None = None
        self._models: dict[tuple[int, int], tuple[Model, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._folder: tempfile.TemporaryDirectory | None = None  # the rewritten files live as long as this

    def _model(self, H: int, W: int) -> tuple[Model, np.ndarray]:
        with self._lock:
            if (H, W) not in self._models:
                if self._buf is None:
                    self._buf = Path(self._runtime.model_path(WIDE_MODELS[self.model])).read_bytes()
                    self._folder = tempfile.TemporaryDirectory(prefix="facepipe-wide-")
                path = Path(self._folder.name) / f"{self.model}_{H}x{W}.tflite"
                path.write_bytes(spatially_resized(self._buf, H, W))
                ys, xs = np.meshgrid(np.arange(H // _STRIDE), np.arange(W // _STRIDE), indexing="ij")
                anchors = ((np.stack([xs.ravel(), ys.ravel()], 1) + 0.5) * _STRIDE).astype(np.float32)
                self._models[(H, W)] = (Model(path, num_threads=self._runtime.num_threads), anchors)
            return self._models[(H, W)]

    def detect(self, view: np.ndarray) -> Detections:
        h, w = view.shape[:2]
        H, W = wide_shape(w, h)
        model, anchors = self._model(H, W)

        def fill(ins: list[np.ndarray]) -> None:
            t = ins[0][0]
            t[:h, :w] = cv2.LUT(view, _TO_RANGE)
            t[h:] = -1.0
            t[:h, w:] = -1.0

        def read(outs: list[np.ndarray]) -> Detections:
            raw = decode_detections(outs[0][0].reshape(-1, 16), outs[1][0].reshape(-1, 1), anchors, scale=1.0,
                                    num_keypoints=6, min_score=self.min_score)
            raw = weighted_nms(raw, self.nms_iou)
            return Detections(raw.boxes, raw.keypoints, raw.scores, (w, h))

        return model.run_filled(1, fill, read)
