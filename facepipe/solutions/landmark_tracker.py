"""Generic detect-then-track loop of MediaPipe's landmark pipelines (reference 1.12).

Used by face mesh, hands and the Tasks face landmarker. One `LandmarkTracker`
holds the state of one video stream: the next-frame ROIs of the objects found
on the previous frame, their track ids and the last timestamp. Per frame:

1. ROIs from the previous frame are used only in tracking mode.
2. The detector runs only when fewer than `max_num` objects are tracked; its
   ROIs (best first) are clipped to `max_num`.
3. Detection ROIs, then tracked ROIs, are merged with IoU association
   (threshold 0.5; a tracked ROI replaces a detection it overlaps).
4. The caller runs its landmark model on every ROI of the plan, drops objects
   whose presence is <= its threshold, and hands back the kept rows and their
   next-frame ROIs.

Usage::

    tracker = LandmarkTracker(max_num=2, tracking=True)

    def detect() -> np.ndarray:                 # (K,5) ROIs, best first
        ...
    def infer(plan: TrackPlan) -> tuple[R, TrackedObjects]:
        ...                                     # landmarks on plan.rois (one batched call)
        return result, TrackedObjects(keep, next_rois)

    result = tracker.step(detect, infer, timestamp_ms=frame_time_ms)

Track ids: a ROI that came from a detection gets a new id; a tracked ROI keeps
its object's id (in static mode ids are 0..K-1 on every image). Callers key
per-object state (smoothing filters, handedness history) by id and drop state
of ids that are gone.

Thread safety: `step` holds the tracker's lock for the whole frame, so one
tracker used from several threads processes frames one at a time; separate
trackers share nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from facepipe.stages.tracking import associate_rect_indices

__all__ = ["LandmarkTracker", "TrackPlan", "TrackedObjects", "SIMULATED_FRAME_MS"]

R = TypeVar("R")

# MediaPipe's legacy solutions advance a simulated clock by 33333 us per call;
# used only when the caller gives no timestamp.
SIMULATED_FRAME_MS = 33.333


@dataclass(frozen=True)
class TrackPlan:
    """ROIs to run the landmark model on this frame, in MediaPipe's list order.

    rois: (M,5) float32 normalized x_c, y_c, w, h, rotation.
    track_ids: (M,) int64 object id of each ROI.
    from_detection: (M,) bool, True where the ROI came from this frame's detector.
    detector_ran: whether the detector ran on this frame.
    timestamp_ms: the frame's timestamp (given, or the simulated 30 fps clock).
    """

    rois: np.ndarray
    track_ids: np.ndarray
    from_detection: np.ndarray
    detector_ran: bool
    timestamp_ms: float

    def __len__(self) -> int:
        return int(self.rois.shape[0])


@dataclass(frozen=True)
class TrackedObjects:
    """What the landmark stage found for a plan.

    keep: (M,) bool over the plan's rows, True where presence passed the gate.
    next_rois: (keep.sum(), 5) next-frame ROIs of the kept rows, in plan order.
    """

    keep: np.ndarray
    next_rois: np.ndarray


class LandmarkTracker:
    """State of one stream of a detect-then-track pipeline; see the module doc."""

    def __init__(self, max_num: int, *, tracking: bool = True, iou_threshold: float = 0.5) -> None:
        if max_num < 1:
            raise ValueError(f"max_num must be >= 1, got {max_num}")
        self.max_num = int(max_num)
        self.tracking = bool(tracking)
        self.iou_threshold = float(iou_threshold)
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget tracked objects and the clock (e.g. at a scene cut or a new video)."""
        with self._lock:
            self._prev_rois = np.zeros((0, 5), np.float32)
            self._prev_ids = np.zeros(0, np.int64)
            self._next_id = 0
            self._last_ts: float | None = None

    @property
    def tracked_rois(self) -> np.ndarray:
        """(M,5) ROIs the next frame will start from (empty in static mode)."""
        with self._lock:
            return self._prev_rois.copy()

    def _timestamp(self, timestamp_ms: float | None) -> float:
        if timestamp_ms is None:
            return (self._last_ts or 0.0) + SIMULATED_FRAME_MS
        ts = float(timestamp_ms)
        if not np.isfinite(ts):
            raise ValueError(f"timestamp_ms must be a finite number, got {timestamp_ms!r}")
        if self.tracking and self._last_ts is not None and ts <= self._last_ts:
            raise ValueError(
                f"timestamp_ms must increase from frame to frame in video mode: got {ts:g} ms after"
                f" {self._last_ts:g} ms (call reset() to start a new stream)"
            )
        return ts

    def plan(self, detect: Callable[[], np.ndarray], timestamp_ms: float | None = None) -> TrackPlan:
        """Steps 1-3: the ROIs to run landmarks on. Prefer `step`, which also records the result."""
        with self._lock:
            ts = self._timestamp(timestamp_ms)
            prev = self._prev_rois if self.tracking else self._prev_rois[:0]
            prev_ids = self._prev_ids[: len(prev)]
            ran = len(prev) < self.max_num
            det = np.zeros((0, 5), np.float32)
            if ran:
                det = np.asarray(detect(), np.float32).reshape(-1, 5)[: self.max_num]
            if self.tracking:
                new_ids = np.arange(self._next_id, self._next_id + len(det), dtype=np.int64)
                self._next_id += len(det)
            else:  # every image stands alone: ids are positions in the detector's list
                new_ids = np.arange(len(det), dtype=np.int64)
            idx = associate_rect_indices(det, prev, self.iou_threshold)
            all_rois = np.concatenate([det, prev])
            all_ids = np.concatenate([new_ids, prev_ids])
            return TrackPlan(all_rois[idx], all_ids[idx], idx < len(det), ran, ts)

    def commit(self, plan: TrackPlan, tracked: TrackedObjects) -> None:
        """Step 4's bookkeeping: remember kept objects' next-frame ROIs and the timestamp."""
        keep = np.asarray(tracked.keep, bool).reshape(-1)
        nxt = np.asarray(tracked.next_rois, np.float32).reshape(-1, 5)
        if keep.shape[0] != len(plan) or nxt.shape[0] != int(keep.sum()):
            raise ValueError(
                f"TrackedObjects disagree with the plan: {len(plan)} ROIs, keep {keep.shape}, next_rois {nxt.shape}"
            )
        with self._lock:
            self._last_ts = plan.timestamp_ms
            if self.tracking:
                self._prev_rois = nxt
                self._prev_ids = plan.track_ids[keep]

    def step(
        self,
        detect: Callable[[], np.ndarray],
        infer: Callable[[TrackPlan], tuple[R, TrackedObjects]],
        timestamp_ms: float | None = None,
    ) -> R:
        """Run one frame: plan, `infer(plan)`, commit; returns infer's result.

        detect() -> (K,5) detection ROIs, best first (called only when needed).
        infer(plan) -> (result, TrackedObjects) for the plan's ROIs.
        In tracking mode timestamps must strictly increase (ValueError otherwise);
        None uses MediaPipe's simulated 30 fps clock.
        """
        with self._lock:
            plan = self.plan(detect, timestamp_ms)
            result, tracked = infer(plan)
            self.commit(plan, tracked)
            return result
