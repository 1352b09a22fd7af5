"""The areas to redact in one frame, with where each came from.

They are `Detections` (pixels of the frame, 6 BlazeFace keypoints), not a container of their
own: `track_ids` (-1: untracked) and, per row, `extras["source"]`, the `Source` code of why
the region is redacted. These helpers build them so that every region set carries both, and
sets of one frame merge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facepipe.results import Detections, ImageSize

__all__ = ["SOURCE", "Source", "detected_regions", "empty_regions", "face_regions", "merge_regions",
           "region_sources"]

SOURCE = "source"  # the extras key of the Source codes


class Source:
    """Why a region is redacted in a frame."""

    DETECTED = 0  # the detector found it in this frame
    HELD = 1  # a tracked face not found in this frame, carried forward along its motion
    BACKFILLED = 2  # a face first found in a later frame, carried back before its first detection
    INTERPOLATED = 3  # a gap between two detections of one track, filled in

    NAMES = ("detected", "held", "backfilled", "interpolated")


def face_regions(xyxy: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, track_ids: np.ndarray,
                 sources: np.ndarray, image_size: ImageSize = (0, 0)) -> Detections:
    """N regions: (N,4) face boxes (before mask scaling), (N,6,2) keypoints (moved with the box
    for held and backfilled regions), (N,) scores of the detection each derives from, (N,) track
    ids and (N,) `Source` codes."""
    return Detections(xyxy, keypoints, scores, image_size, track_ids=np.asarray(track_ids, np.int64).reshape(-1),
                      extras={SOURCE: np.asarray(sources, np.int8).reshape(-1)})


def empty_regions(image_size: ImageSize = (0, 0)) -> Detections:
    return face_regions(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0), np.zeros(0), np.zeros(0), image_size)


def detected_regions(dets: Detections, track_ids: np.ndarray | None = None) -> Detections:
    """`dets` as regions found in this frame (untracked when `track_ids` is None)."""
    n = len(dets)
    ids = np.full(n, -1, np.int64) if track_ids is None else track_ids
    return face_regions(dets.xyxy, dets.keypoints, dets.scores, ids, np.full(n, Source.DETECTED), dets.image_size)


def merge_regions(parts: Sequence[Detections], image_size: ImageSize) -> Detections:
    """The regions of one frame from several sets, in order."""
    parts = [p for p in parts if len(p)]
    return Detections.merge(parts, image_size=image_size) if parts else empty_regions(image_size)


def region_sources(regions: Detections) -> np.ndarray:
    """(N,) int8 `Source` codes of `regions`."""
    return regions.extras[SOURCE]
