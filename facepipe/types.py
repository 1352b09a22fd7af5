"""Result containers: frozen dataclasses of numpy arrays, always well-shaped.

Every container has a leading "instance" axis N (faces, hands, people) that is
0 when nothing was found, so code never needs a None check. Indexing with an
int, slice, index array or boolean mask returns the same type.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

__all__ = ["Detections", "Landmarks", "ImageSize", "as_f32"]

ImageSize = tuple[int, int]  # (width, height) in pixels


def as_f32(a: Any, shape_tail: tuple[int, ...]) -> np.ndarray:
    """`a` as float32 with shape (N, *shape_tail); an empty input gives (0, *shape_tail)."""
    arr = np.asarray(a, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, *shape_tail), np.float32)
    return arr.reshape((-1, *shape_tail))


class _Indexable:
    """Mask/int/slice indexing over every array field whose first axis is N."""

    def __len__(self) -> int:
        return int(self._n_field().shape[0])

    def _n_field(self) -> np.ndarray:
        return getattr(self, fields(self)[0].name)  # type: ignore[arg-type]

    def __getitem__(self, idx: Any):
        n = len(self)
        if isinstance(idx, (int, np.integer)):
            if not -n <= idx < n:
                raise IndexError(f"index {idx} out of range for {n} items")
            idx = [int(idx) % n]
        changes = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n:
                changes[f.name] = v[idx]
            elif isinstance(v, tuple) and f.metadata.get("per_item"):
                sel = np.arange(n)[idx]
                changes[f.name] = tuple(v[i] for i in np.atleast_1d(sel))
        return replace(self, **changes)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


@dataclass(frozen=True, eq=False)
class Detections(_Indexable):
    """Detected objects in pixel coordinates of the input image.

    xyxy: (N,4) float32 boxes (x1, y1, x2, y2), may extend past the image.
    keypoints: (N,K,2) float32 pixel keypoints (K=6 for faces).
    scores: (N,) float32 in [0,1], sorted descending as produced by NMS.
    image_size: (width, height) of the image the pixels refer to.
    """

    xyxy: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    image_size: ImageSize = (0, 0)

    def __post_init__(self) -> None:
        k = np.asarray(self.keypoints).shape[1] if np.asarray(self.keypoints).ndim == 3 else 0
        object.__setattr__(self, "xyxy", as_f32(self.xyxy, (4,)))
        object.__setattr__(self, "keypoints", as_f32(self.keypoints, (k, 2)))
        object.__setattr__(self, "scores", as_f32(self.scores, ()).reshape(-1))
        n = self.xyxy.shape[0]
        if self.keypoints.shape[0] != n or self.scores.shape[0] != n:
            raise ValueError(
                f"Detections fields disagree on N: xyxy {self.xyxy.shape}, keypoints {self.keypoints.shape},"
                f" scores {self.scores.shape}"
            )

    @classmethod
    def empty(cls, num_keypoints: int = 6, image_size: ImageSize = (0, 0)) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, num_keypoints, 2), np.float32),
                   np.zeros((0,), np.float32), image_size)

    @property
    def wh(self) -> np.ndarray:
        """(N,2) box width and height in pixels."""
        return self.xyxy[:, 2:] - self.xyxy[:, :2]

    @property
    def area(self) -> np.ndarray:
        wh = self.wh
        return wh[:, 0] * wh[:, 1]

    def normalized_xyxy(self) -> np.ndarray:
        w, h = self.image_size
        return self.xyxy / np.array([w, h, w, h], np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_size": list(self.image_size),
            "detections": [
                {"box_xyxy": b.tolist(), "keypoints": k.tolist(), "score": float(s)}
                for b, k, s in zip(self.xyxy, self.keypoints, self.scores)
            ],
        }


@dataclass(frozen=True, eq=False)
class Landmarks(_Indexable):
    """Landmarks of N instances, normalized to the image like MediaPipe's.

    landmarks: (N,P,3) float32; x = px/W, y = py/H, z in the scale of x.
    presence: (N,) float32 presence/flag score of each instance.
    rois: (N,5) float32 ROI each instance was read from: x_center, y_center,
          width, height (normalized) and rotation (radians, clockwise on screen).
    image_size: (width, height).
    """

    landmarks: np.ndarray
    presence: np.ndarray
    rois: np.ndarray
    image_size: ImageSize = (0, 0)

    def __post_init__(self) -> None:
        lm = np.asarray(self.landmarks, dtype=np.float32)
        p = lm.shape[1] if lm.ndim == 3 else 0
        object.__setattr__(self, "landmarks", as_f32(lm, (p, 3)))
        object.__setattr__(self, "presence", as_f32(self.presence, ()).reshape(-1))
        object.__setattr__(self, "rois", as_f32(self.rois, (5,)))
        n = self.landmarks.shape[0]
        if self.presence.shape[0] != n or self.rois.shape[0] != n:
            raise ValueError("Landmarks fields disagree on N")

    @classmethod
    def empty(cls, num_points: int, image_size: ImageSize = (0, 0)) -> Landmarks:
        return cls(np.zeros((0, num_points, 3), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 5), np.float32), image_size)

    @property
    def pixels(self) -> np.ndarray:
        """(N,P,3) landmarks in pixels; z is scaled by the image width, as x is."""
        w, h = self.image_size
        return self.landmarks * np.array([w, h, w], np.float32)

    def bounding_boxes(self) -> np.ndarray:
        """(N,4) pixel xyxy box around each instance's landmarks."""
        px = self.pixels
        if len(px) == 0:
            return np.zeros((0, 4), np.float32)
        return np.concatenate([px[:, :, :2].min(1), px[:, :, :2].max(1)], axis=1)
