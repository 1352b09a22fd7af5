"""Temporal safety net: faces the detector misses for a few frames stay redacted.

`FaceTracker` links each frame's detections to tracks (IoU, or centre
distance for fast small faces, against each track's motion-extrapolated box)
and returns, for every frame:

* the detections themselves (never dropped, recall first, except those the
  finder's verifier did not confirm that continue no track);
* `held` regions: a track not found in this frame, carried forward along its
  estimated velocity for up to `hold` frames, at the size of its last verified
  detection (not grown: a region never gets larger than the face it stands for);
* `retro` regions for frames already seen, which an offline runner can still
  redact because it writes frames `hold` frames late: the `hold` frames before
  a face was first found (backfill; the face was probably there, only too
  small/blurred/turned to detect), and the frames of a gap between two
  detections of one track (interpolated).

Tracks never cross a scene cut: `update(..., new_shot=i)` says a new shot began at frame i
(`facepipe.stages.scene_cuts` finds them), and every track begun before it ends, with no
hold, interpolation or backfill across the cut; no retro region reaches a frame before it. A
face of one shot then never leaves its region on the picture of another (hamilton's audience
faces backfilled onto the stage shot before the cut: benchmarks/RESULTS.md, "Scene cuts").

Sightings the verifier rejected (`extras["verified"]` False) move a track but
neither resize it, nor confirm it, nor keep it alive: a track ends `hold` frames
after its last verified sighting, so a hand or a shirt a face track drifted onto
is not blurred for the rest of the clip.

A live caller uses `current` only. The tracker is deterministic and holds
state per instance; it is not shared between threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facepipe.apps.anonymize.regions import Source, detected_regions, empty_regions, face_regions, merge_regions
from facepipe.results import Detections, box_iou

__all__ = ["FaceTracker", "TrackerOptions", "TrackStep"]


@dataclass(frozen=True)
class TrackerOptions:
    """hold: frames a lost face stays redacted forward, and frames redacted before its first detection
        (longer: fewer faces left visible, more of the frame blurred; benchmarks/RESULTS.md has
        the measurements behind 15).
    match_iou: IoU with a track's predicted box that links a detection to it.
    match_centre: or centre distance below this fraction of the larger box side.
    grow_per_frame: relative growth of a held/backfilled box per frame away from a detection
        (0: held and backfilled regions keep the face's last verified size; benchmarks/RESULTS.md).
    velocity_alpha: weight of the newest motion in the velocity estimate (exponential smoothing).
    max_speed: velocity cap, as a fraction of the box size per frame (keeps a bad match from
        flinging the held box away).
    max_drift: the farthest a held or backfilled region moves along the face's velocity, in box
        sizes (None: no limit). A velocity measured on jittery sightings in a crowd (one step of a
        face found again after a gap), taken up to 15 frames ahead at up to `max_speed`, put held
        discs a face or more away from the face, on torsos and walls, while the face itself, half
        hidden, was left uncovered (benchmarks/RESULTS.md, "Held regions that drift"). Half a box
        keeps a face moving fast (a quarter of its size a frame) inside its 1.5x ellipse for
        several frames lost.
    confirm_score, unconfirmed_hold: a face first seen with a score below `confirm_score` is
        held and backfilled only `unconfirmed_hold` frames, and backfilled `hold` frames once it
        is seen again, verified (into the frames still buffered). A one-frame false positive on
        a wall then blurs 11 frames, not 31 (benchmarks/RESULTS.md has the measurements).
    """

    hold: int = 15
    match_iou: float = 0.1
    match_centre: float = 0.6
    grow_per_frame: float = 0.0
    velocity_alpha: float = 0.6
    max_speed: float = 0.35
    max_drift: float | None = 0.5
    confirm_score: float = 0.8
    unconfirmed_hold: int = 5

    def __post_init__(self) -> None:
        if self.hold < 0:
            raise ValueError(f"hold must be >= 0 frames, got {self.hold}")
        if self.max_drift is not None and self.max_drift < 0:
            raise ValueError(f"max_drift must be >= 0 box sizes (or None), got {self.max_drift}")
        if not 0.0 <= self.confirm_score <= 1.0 or self.unconfirmed_hold < 0:
            raise ValueError(f"confirm_score must be in [0, 1] and unconfirmed_hold >= 0, got {self.confirm_score},"
                             f" {self.unconfirmed_hold}")
        if not 0.0 < self.velocity_alpha <= 1.0:
            raise ValueError(f"velocity_alpha must be in (0, 1], got {self.velocity_alpha}")


@dataclass
class _Track:
    id: int
    box: np.ndarray  # (4,) last detected box
    kps: np.ndarray  # (6,2)
    score: float
    first: int
    last: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    hits: int = 1
    backfilled_with_motion: bool = False
    confirmed: bool = False
    verified_last: int = 0  # last frame with a detection the verifier did not reject
    verified_hits: int = 1


@dataclass(frozen=True)
class TrackStep:
    """Output of one `FaceTracker.update`.

    current: regions for the frame just given (detections + held tracks).
    retro: extra regions for earlier frames, by frame index (backfill and gap interpolation).
    """

    current: Detections
    retro: dict[int, Detections]


def _moved(box: np.ndarray, kps: np.ndarray, shift: np.ndarray, grow: float) -> tuple[np.ndarray, np.ndarray]:
    """Box shifted by `shift` (4,) and scaled about its centre by (1 + grow); keypoints follow."""
    b = box + shift
    c = (b[:2] + b[2:]) / 2
    half = (b[2:] - b[:2]) / 2 * (1.0 + grow)
    new_box = np.concatenate([c - half, c + half]).astype(np.float32)
    old_c = (box[:2] + box[2:]) / 2
    old_half = np.maximum((box[2:] - box[:2]) / 2, 1e-6)
    new_kps = ((kps - old_c) / old_half * half + c).astype(np.float32)
    return new_box, new_kps


def _centre_shift(velocity: np.ndarray, frames: float, limit: float | None = None) -> np.ndarray:
    """(4,) shift of a box moved `frames` frames along the motion of its centre: held and backfilled
    regions translate at the face's last size, never grow, shrink or turn inside out (moving each edge
    by its own velocity did all three: a held box 500 px wide in a 640 px frame, another with x1 < x0).
    limit: the longest shift, in pixels (None: none)."""
    shift = (velocity[:2] + velocity[2:]) / 2 * frames
    if limit is not None:
        length = float(np.hypot(*shift))
        if length > limit:
            shift = shift * (limit / length)
    return np.tile(shift, 2).astype(np.float32)


def _regions(items: list[tuple[np.ndarray, np.ndarray, float, int, int]], size: tuple[int, int]) -> Detections:
    if not items:
        return empty_regions(size)
    boxes, kps, scores, ids, src = zip(*items)
    return face_regions(np.stack(boxes), np.stack(kps), np.asarray(scores), np.asarray(ids), np.asarray(src), size)


class FaceTracker:
    """Links detections over frames and extends each face's coverage in time (see module doc)."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._last_frame: int | None = None
        self._shot_start = 0  # first frame of the current shot: no retro region reaches before it

    def reset(self) -> None:
        self._tracks = []
        self._last_frame = None
        self._shot_start = 0

    @property
    def active_tracks(self) -> int:
        return len(self._tracks)

    def _drift_limit(self, box: np.ndarray) -> float | None:
        """The farthest (pixels) a held or backfilled region of `box` moves along its velocity."""
        d = self.options.max_drift
        return None if d is None else d * max(float((box[2:] - box[:2]).max()), 1.0)

    def _predict(self, t: _Track, frame: int) -> np.ndarray:
        return t.box + t.velocity * (frame - t.last)

    def _associate(self, dets: Detections, preds: np.ndarray) -> list[tuple[int, int]]:
        """Greedy one-to-one matching, best overlap first."""
        if len(dets) == 0 or len(preds) == 0:
            return []
        o = self.options
        iou = box_iou(dets.xyxy, preds)
        dc = (dets.xyxy[:, None, :2] + dets.xyxy[:, None, 2:]) / 2
        pc = (preds[None, :, :2] + preds[None, :, 2:]) / 2
        dist = np.linalg.norm(dc - pc, axis=-1)
        side = np.maximum(np.maximum(dets.wh.max(1)[:, None], (preds[:, 2:] - preds[:, :2]).max(1)[None, :]), 1.0)
        rel = dist / side
        # Size must agree too: a face and a much bigger false box around it stay separate.
        dw = dets.wh.max(1)[:, None]
        pw = (preds[:, 2:] - preds[:, :2]).max(1)[None, :]
        ratio = np.maximum(dw, pw) / np.maximum(np.minimum(dw, pw), 1e-6)
        ok = ((iou >= o.match_iou) | (rel <= o.match_centre)) & (ratio < 2.0)
        score = np.where(ok, iou - 0.01 * rel, -np.inf)
        pairs: list[tuple[int, int]] = []
        used_d: set[int] = set()
        used_t: set[int] = set()
        for flat in np.argsort(-score, axis=None):
            d, t = divmod(int(flat), score.shape[1])
            if not np.isfinite(score[d, t]):
                break
            if d in used_d or t in used_t:
                continue
            pairs.append((d, t))
            used_d.add(d)
            used_t.add(t)
        return pairs

    def update(self, dets: Detections, frame: int | None = None, *, new_shot: int | None = None) -> TrackStep:
        """Feed the detections of the next frame (`frame` index; consecutive if omitted).

        new_shot: a scene cut: a new shot began at this frame index (<= frame; `frame` itself when
        the cut is known in time, as offline; a few frames back when it is confirmed late, as live).
        Tracks that began before it end here (also one that matched a face of the new shot in the
        frames since), and no region is added to frames before it.
        """
        o = self.options
        if frame is None:
            frame = 0 if self._last_frame is None else self._last_frame + 1
        self._last_frame = frame
        if new_shot is not None:
            if new_shot > frame:
                raise ValueError(f"new_shot {new_shot} is after frame {frame}")
            self._shot_start = max(self._shot_start, new_shot)
            self._tracks = [t for t in self._tracks if t.first >= new_shot]
        shot_start = self._shot_start
        size = dets.image_size
        preds = (np.stack([self._predict(t, frame) for t in self._tracks]) if self._tracks
                 else np.zeros((0, 4), np.float32))
        pairs = self._associate(dets, preds)
        verified = dets.extras.get("verified") if dets.extras else None
        weak_only: set[int] = set()  # detections (after filtering) the verifier rejected
        if verified is not None:
            # A detection the verifier did not confirm (FaceFinderOptions.verify) counts only
            # as a weak sighting of a face already tracked; alone it is a blob on a shirt or wall.
            verified = np.asarray(verified, bool)
            keep = verified.copy()
            keep[[d for d, _ in pairs]] = True
            new_index = np.cumsum(keep) - 1
            pairs = [(int(new_index[d]), t) for d, t in pairs]
            weak_only = {int(new_index[d]) for d in np.flatnonzero(keep & ~verified)}
            dets = dets[keep]
        matched_d = {d for d, _ in pairs}
        matched_t = {t for _, t in pairs}
        ids = np.full(len(dets), -1, np.int64)
        retro: dict[int, list] = {}

        def add_retro(f: int, box: np.ndarray, kps: np.ndarray, score: float, tid: int, src: int) -> None:
            if f >= shot_start:
                retro.setdefault(f, []).append((box, kps, score, tid, src))

        for d, ti in pairs:
            t = self._tracks[ti]
            box, kps = dets.xyxy[d], dets.keypoints[d]
            if d in weak_only:
                # An unverified sighting moves the track but does not resize it: held and
                # backfilled regions keep the size of the last verified detection.
                box, kps = _moved(t.box, t.kps, np.tile((box[:2] + box[2:] - t.box[:2] - t.box[2:]) / 2, 2), 0.0)
            dt = frame - t.last
            for g in range(1, dt):  # the gap t.last+1 .. frame-1, linearly
                a = g / dt
                add_retro(t.last + g, (1 - a) * t.box + a * box, (1 - a) * t.kps + a * kps, t.score, t.id,
                          Source.INTERPOLATED)
            step = (box - t.box) / dt
            t.velocity = step if t.hits == 1 else o.velocity_alpha * step + (1 - o.velocity_alpha) * t.velocity
            limit = o.max_speed * max(float((box[2:] - box[:2]).max()), 1.0)
            t.velocity = np.clip(t.velocity, -limit, limit).astype(np.float32)
            t.box, t.kps, t.score, t.last = box.copy(), kps.copy(), float(dets.scores[d]), frame
            if d not in weak_only:
                t.verified_last = frame
                t.verified_hits += 1
            t.hits += 1
            ids[d] = t.id
            if not t.confirmed and t.verified_hits >= 2:
                # Seen twice: a face after all, so it gets the backfill its first sighting did not.
                t.confirmed = True
                first_box, first_kps = _moved(t.box, t.kps, _centre_shift(t.velocity, -(frame - t.first)), 0.0)
                for j in range(1, o.hold + 1):
                    b, k = _moved(first_box, first_kps, np.zeros(4, np.float32), o.grow_per_frame * j)
                    add_retro(t.first - j, b, k, t.score, t.id, Source.BACKFILLED)
            if t.hits == 3 and not t.backfilled_with_motion and np.any(t.velocity):
                # Now that the motion is known, also cover the path it came along.
                t.backfilled_with_motion = True
                # Where it was at its first frame, going back along the velocity from now.
                first_box, first_kps = _moved(t.box, t.kps, _centre_shift(t.velocity, -(frame - t.first)), 0.0)
                drift = self._drift_limit(first_box)
                for j in range(1, o.hold + 1):
                    b, k = _moved(first_box, first_kps, _centre_shift(t.velocity, -j, drift), o.grow_per_frame * j)
                    add_retro(t.first - j, b, k, t.score, t.id, Source.BACKFILLED)

        for d in range(len(dets)):
            if d in matched_d:
                continue
            t = _Track(self._next_id, dets.xyxy[d].copy(), dets.keypoints[d].copy(), float(dets.scores[d]),
                       frame, frame, verified_last=frame)
            self._next_id += 1
            self._tracks.append(t)
            ids[d] = t.id
            t.confirmed = t.score >= o.confirm_score
            # A weak single sighting is backfilled as briefly as it is held; fully once seen again.
            for j in range(1, (o.hold if t.confirmed else min(o.hold, o.unconfirmed_hold)) + 1):
                # Not moving yet as far as we know: grow in place.
                b, k = _moved(t.box, t.kps, np.zeros(4, np.float32), o.grow_per_frame * j)
                add_retro(frame - j, b, k, t.score, t.id, Source.BACKFILLED)

        current = [detected_regions(dets, ids)]
        held = []
        survivors = []
        for ti, t in enumerate(self._tracks):
            hold = o.hold if t.confirmed else min(o.hold, o.unconfirmed_hold)
            if frame - t.verified_last > hold:
                # Only unverified sightings for `hold` frames: a hand or a shirt the track
                # drifted onto would otherwise keep itself alive (and blurred) for ever.
                continue
            if ti in matched_t or t.last == frame:
                survivors.append(t)
                continue
            missed = frame - t.last
            if missed > hold:
                continue  # lost for good
            survivors.append(t)
            b, k = _moved(t.box, t.kps, _centre_shift(t.velocity, missed, self._drift_limit(t.box)),
                          o.grow_per_frame * missed)
            held.append((b, k, t.score, t.id, Source.HELD))
        self._tracks = survivors
        current.append(_regions(held, size))
        return TrackStep(merge_regions(current, size), {f: _regions(v, size) for f, v in retro.items()})
