"""Result containers: frozen dataclasses of numpy arrays, always well-shaped.

Every container has a leading "instance" axis N (faces, hands, people) that is
0 when nothing was found, so code never needs a None check. Indexing with an
int, slice, index array or boolean mask returns the same type.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from facepipe.stages.nms import hard_nms_indices, iou_matrix, weighted_nms_arrays

__all__ = ["Detections", "Landmarks", "ImageSize", "as_f32", "box_iou"]

ImageSize = tuple[int, int]  # (width, height) in pixels


def as_f32(a: Any, shape_tail: tuple[int, ...]) -> np.ndarray:
    """`a` as float32 with shape (N, *shape_tail); an empty input gives (0, *shape_tail)."""
    arr = np.asarray(a, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, *shape_tail), np.float32)
    return arr.reshape((-1, *shape_tail))


class _Indexable:
    """Mask/int/slice indexing over every array field whose first axis is N.

    Fields marked `per_item` in their metadata are indexed too: tuples item by item, and
    mappings of name -> (N,...) array value by value.
    """

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
            elif isinstance(v, Mapping) and f.metadata.get("per_item"):
                changes[f.name] = {k: a[idx] for k, a in v.items()}
        return replace(self, **changes)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,M) IoU between xyxy boxes a (N,4) and b (M,4); 0 where they don't intersect."""
    return iou_matrix(np.asarray(a).reshape(-1, 4), np.asarray(b).reshape(-1, 4))


@dataclass(frozen=True, eq=False)
class Detections(_Indexable):
    """Detected objects in pixel coordinates of the input image.

    xyxy: (N,4) float32 boxes (x1, y1, x2, y2), may extend past the image.
    keypoints: (N,K,2) float32 pixel keypoints (K=6 for faces).
    scores: (N,) float32 in [0,1], sorted descending as produced by NMS.
    image_size: (width, height) of the image the pixels refer to.
    track_ids: None, or (N,) int64 identity of each detection over time (-1: untracked).
    extras: per-row data of any other kind, name -> (N,...) array (indexed, merged and
        NMS-selected with the rest of the row).

    Other coordinate frames are derived, never stored: `normalized_xyxy()` /
    `normalized_keypoints()` (image-relative, as MediaPipe's graphs pass detections on),
    `from_normalized(...)` back to pixels, and `mapped(scale, offset)` from a crop or a
    resized copy of the image (a tile, a zoomed view) to the image itself.
    """

    xyxy: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    image_size: ImageSize = (0, 0)
    track_ids: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict, metadata={"per_item": True})

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
        if self.track_ids is not None:
            ids = np.asarray(self.track_ids, np.int64).reshape(-1)
            if ids.shape[0] != n:
                raise ValueError(f"Detections track_ids has {ids.shape[0]} rows, expected {n}")
            object.__setattr__(self, "track_ids", ids)
        extras = {}
        for name, value in self.extras.items():
            arr = np.asarray(value)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise ValueError(f"Detections extra {name!r} has shape {arr.shape}, expected ({n}, ...)")
            extras[name] = arr
        object.__setattr__(self, "extras", extras)

    @classmethod
    def empty(cls, num_keypoints: int = 6, image_size: ImageSize = (0, 0)) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, num_keypoints, 2), np.float32),
                   np.zeros((0,), np.float32), image_size)

    @classmethod
    def from_normalized(cls, xyxy: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, image_size: ImageSize,
                        **rest: Any) -> Detections:
        """Pixel detections of boxes and keypoints given relative to the image (x / W, y / H)."""
        W, H = image_size
        scale = np.array([W, H], np.float32)
        kps = np.asarray(keypoints, np.float32)
        if np.asarray(scores).size == 0:
            return cls.empty(kps.shape[1] if kps.ndim == 3 else 0, image_size)
        return cls(np.asarray(xyxy, np.float32) * np.tile(scale, 2), kps * scale, scores, image_size, **rest)

    @classmethod
    def merge(cls, parts: Sequence[Detections], *, num_keypoints: int | None = None,
              image_size: ImageSize | None = None) -> Detections:
        """All rows of `parts`, in order, as one `Detections` (of one image: their image sizes must agree).

        Track ids are kept when any part has them (-1 for the rows of parts without); every
        part must carry the same extras. `num_keypoints` and `image_size` shape the result
        when `parts` is empty.
        """
        if not parts:
            return cls.empty(6 if num_keypoints is None else num_keypoints, image_size or (0, 0))
        sizes = {tuple(p.image_size) for p in parts}
        if image_size is None:
            if len(sizes) > 1:
                raise ValueError(f"cannot merge detections of different image sizes {sorted(sizes)}")
            image_size = parts[0].image_size
        kps = {p.keypoints.shape[1] for p in parts}
        if len(kps) > 1:
            raise ValueError(f"cannot merge detections with different keypoint counts {sorted(kps)}")
        names = {tuple(sorted(p.extras)) for p in parts}
        if len(names) > 1:
            raise ValueError(f"cannot merge detections with different extras {sorted(names)}")
        ids = None
        if any(p.track_ids is not None for p in parts):
            ids = np.concatenate([np.full(len(p), -1, np.int64) if p.track_ids is None else p.track_ids
                                  for p in parts])
        return cls(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.keypoints for p in parts]),
                   np.concatenate([p.scores for p in parts]), image_size, ids,
                   {k: np.concatenate([p.extras[k] for p in parts]) for k in parts[0].extras})

    def with_nms(self, iou: float = 0.3, *, weighted: bool = True) -> Detections:
        """Non-max suppressed, highest score first (MediaPipe's NonMaxSuppressionCalculator).

        weighted=True: MediaPipe's WEIGHTED algorithm, each cluster of detections overlapping
        its best one by IoU > `iou` becomes one detection with the best one's score, track id
        and extras, and the score-weighted mean of the cluster's boxes and keypoints.
        weighted=False: the DEFAULT (hard) algorithm, the best of each cluster is kept as is.
        """
        if not 0.0 <= iou <= 1.0:
            raise ValueError(f"NMS IoU threshold must be in [0, 1], got {iou}")
        if len(self) == 0:
            return self
        if not weighted:
            return self[hard_nms_indices(self.xyxy, self.scores, iou)]
        xywh = np.concatenate([self.xyxy[:, :2], self.wh], axis=1)
        heads, boxes, kps = weighted_nms_arrays(xywh, self.xyxy, self.keypoints, self.scores, iou)
        return replace(self[heads], xyxy=boxes, keypoints=kps)

    def mapped(self, scale: float | tuple[float, float], offset: tuple[float, float] | None = None,
               image_size: ImageSize | None = None) -> Detections:
        """These detections moved to another image's pixels: p * scale + offset (per axis when
        `scale` is a pair), e.g. from a tile or a resized copy to the full frame of `image_size`."""
        s = np.broadcast_to(np.asarray(scale, np.float32), (2,))
        out_xyxy = self.xyxy * np.tile(s, 2)
        out_kps = self.keypoints * s
        if offset is not None:
            out_xyxy = out_xyxy + np.array([offset[0], offset[1], offset[0], offset[1]], np.float32)
            out_kps = out_kps + np.array(offset, np.float32)
        return replace(self, xyxy=out_xyxy, keypoints=out_kps,
                       image_size=self.image_size if image_size is None else image_size)

    @property
    def wh(self) -> np.ndarray:
        """(N,2) box width and height in pixels."""
        return self.xyxy[:, 2:] - self.xyxy[:, :2]

    @property
    def area(self) -> np.ndarray:
        wh = self.wh
        return wh[:, 0] * wh[:, 1]

    def normalized_xyxy(self) -> np.ndarray:
        """(N,4) boxes relative to the image size (x / W, y / H)."""
        w, h = self.image_size
        return self.xyxy / np.array([w, h, w, h], np.float32)

    def normalized_keypoints(self) -> np.ndarray:
        """(N,K,2) keypoints relative to the image size (x / W, y / H)."""
        w, h = self.image_size
        return self.keypoints / np.array([w, h], np.float32)

    def to_dict(self) -> dict[str, Any]:
        rows = [{"box_xyxy": b.tolist(), "keypoints": k.tolist(), "score": float(s)}
                for b, k, s in zip(self.xyxy, self.keypoints, self.scores)]
        if self.track_ids is not None:
            for row, t in zip(rows, self.track_ids):
                row["track_id"] = int(t)
        return {"image_size": list(self.image_size), "detections": rows}


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
