"""`FaceRegions`: the areas to redact in one frame, with where each came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepipe.results import Detections, ImageSize, _Indexable, as_f32

__all__ = ["FaceRegions", "Source"]


class Source:
    """Why a region is redacted in a frame."""

    DETECTED = 0  # the detector found it in this frame
    HELD = 1  # a tracked face not found in this frame, carried forward along its motion
    BACKFILLED = 2  # a face first found in a later frame, carried back before its first detection
    INTERPOLATED = 3  # a gap between two detections of one track, filled in

    NAMES = ("detected", "held", "backfilled", "interpolated")


@dataclass(frozen=True, eq=False)
class FaceRegions(_Indexable):
    """N face regions in pixel coordinates of one frame.

    xyxy: (N,4) float32 face boxes (before mask scaling). keypoints: (N,6,2) float32 BlazeFace
    keypoints (moved with the box for held/backfilled regions). scores: (N,) detection score
    (of the detection the region derives from). track_ids: (N,) int64, -1 when untracked.
    sources: (N,) int8 `Source` codes. image_size: (width, height).
    """

    xyxy: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    sources: np.ndarray
    image_size: ImageSize = (0, 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "xyxy", as_f32(self.xyxy, (4,)))
        kp = np.asarray(self.keypoints, np.float32)
        k = kp.shape[1] if kp.ndim == 3 else 6
        object.__setattr__(self, "keypoints", as_f32(kp, (k, 2)))
        object.__setattr__(self, "scores", as_f32(self.scores, ()).reshape(-1))
        object.__setattr__(self, "track_ids", np.asarray(self.track_ids, np.int64).reshape(-1))
        object.__setattr__(self, "sources", np.asarray(self.sources, np.int8).reshape(-1))
        n = self.xyxy.shape[0]
        if any(a.shape[0] != n for a in (self.keypoints, self.scores, self.track_ids, self.sources)):
            raise ValueError("FaceRegions fields disagree on N")

    @classmethod
    def empty(cls, image_size: ImageSize = (0, 0)) -> FaceRegions:
        return cls(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0), np.zeros(0), np.zeros(0), image_size)

    @classmethod
    def from_detections(cls, dets: Detections, track_ids: np.ndarray | None = None) -> FaceRegions:
        n = len(dets)
        ids = np.full(n, -1, np.int64) if track_ids is None else track_ids
        return cls(dets.xyxy, dets.keypoints, dets.scores, ids, np.zeros(n, np.int8), dets.image_size)

    @classmethod
    def concat(cls, parts: list[FaceRegions], image_size: ImageSize) -> FaceRegions:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(image_size)
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.track_ids for p in parts]),
            np.concatenate([p.sources for p in parts]),
            image_size,
        )

    @property
    def wh(self) -> np.ndarray:
        return self.xyxy[:, 2:] - self.xyxy[:, :2]

    def to_dict(self) -> dict:
        return {
            "image_size": list(self.image_size),
            "faces": [
                {"box_xyxy": [round(float(v), 2) for v in b], "score": round(float(s), 4), "track_id": int(t),
                 "source": Source.NAMES[int(src)]}
                for b, s, t, src in zip(self.xyxy, self.scores, self.track_ids, self.sources)
            ],
        }
