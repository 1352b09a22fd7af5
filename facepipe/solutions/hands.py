"""Hand tracking: palm detection -> hand landmarks, with MediaPipe's detect-then-track loop.

Reimplements `mp.solutions.hands` (reference section 5) on the same models:
21 landmarks per hand, world landmarks in metres, handedness, static and
tracking modes. Optional One-Euro smoothing per tracked hand (MediaPipe's
legacy Hands has none; off by default).

Handedness convention
---------------------
MediaPipe labels handedness *as if the image were mirrored* (a selfie
camera shown like a mirror): on an ordinary, un-mirrored photo of a person,
their right hand comes out labelled "Left". `HandsResult.handedness` keeps
MediaPipe's labels by default, for parity. Set
`HandsOptions(flip_handedness=True)` for un-mirrored input (rear cameras,
photos, most videos) to get the subject's own hand; the score is unchanged
(it is the confidence of the returned label).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from facepipe.io.image import check_rgb_image
from facepipe.results import ImageSize, Landmarks, as_f32
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.solutions.hand_landmark import NUM_HAND_LANDMARKS, HandLandmarkModel, hand_rects_for_next_frame
from facepipe.solutions.landmark_tracker import LandmarkTracker, TrackedObjects, TrackPlan
from facepipe.solutions.palm_detection import PalmDetector, PalmDetectorOptions, hand_rects_from_palms
from facepipe.stages.filters import LandmarksSmoother

__all__ = ["Hands", "HandsOptions", "HandsResult", "HandLandmark", "HANDEDNESS_LABELS"]

HANDEDNESS_LABELS = ("Left", "Right")


class HandLandmark:
    WRIST = 0
    THUMB_CMC = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_FINGER_MCP = 5
    INDEX_FINGER_PIP = 6
    INDEX_FINGER_DIP = 7
    INDEX_FINGER_TIP = 8
    MIDDLE_FINGER_MCP = 9
    MIDDLE_FINGER_PIP = 10
    MIDDLE_FINGER_DIP = 11
    MIDDLE_FINGER_TIP = 12
    RING_FINGER_MCP = 13
    RING_FINGER_PIP = 14
    RING_FINGER_DIP = 15
    RING_FINGER_TIP = 16
    PINKY_MCP = 17
    PINKY_PIP = 18
    PINKY_DIP = 19
    PINKY_TIP = 20


@dataclass(frozen=True, eq=False)
class HandsResult(Landmarks):
    """Hands found in one image, in MediaPipe's output order.

    landmarks: (N,21,3) normalized (x/W, y/H, z in x's scale, relative to the wrist depth).
    presence: (N,) hand flag; rois: (N,5) the ROI each hand was read from.
    world_landmarks: (N,21,3) metres, origin near the hand's centre.
    handedness: (N,) int8, 0 = "Left", 1 = "Right" (see the module doc for the mirror convention).
    handedness_score: (N,) confidence of that label.
    track_ids: (N,) int64 stable id of each hand across frames in tracking mode.
    """

    world_landmarks: np.ndarray = field(default_factory=lambda: np.zeros((0, NUM_HAND_LANDMARKS, 3),
                                                                          np.float32))
    handedness: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    handedness_score: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.landmarks.shape[0]
        object.__setattr__(self, "world_landmarks", as_f32(self.world_landmarks, (NUM_HAND_LANDMARKS, 3)))
        object.__setattr__(self, "handedness", np.asarray(self.handedness, np.int8).reshape(-1))
        object.__setattr__(self, "handedness_score", as_f32(self.handedness_score, ()).reshape(-1))
        object.__setattr__(self, "track_ids", np.asarray(self.track_ids, np.int64).reshape(-1))
        for name in ("world_landmarks", "handedness", "handedness_score", "track_ids"):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"HandsResult.{name} has {getattr(self, name).shape[0]} rows, landmarks {n}")

    @classmethod
    def empty(cls, num_points: int = NUM_HAND_LANDMARKS, image_size: ImageSize = (0, 0)) -> HandsResult:
        return cls(np.zeros((0, num_points, 3), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 5), np.float32), image_size)

    @property
    def handedness_labels(self) -> tuple[str, ...]:
        return tuple(HANDEDNESS_LABELS[int(i)] for i in self.handedness)

    def to_dict(self) -> dict:
        return {
            "image_size": list(self.image_size),
            "hands": [
                {
                    "handedness": HANDEDNESS_LABELS[int(h)],
                    "handedness_score": float(s),
                    "presence": float(p),
                    "track_id": int(t),
                    "roi": r.tolist(),
                    "landmarks": lm.tolist(),
                    "world_landmarks": w.tolist(),
                }
                for lm, w, h, s, p, t, r in zip(
                    self.landmarks, self.world_landmarks, self.handedness, self.handedness_score,
                    self.presence, self.track_ids, self.rois, strict=True,
                )
            ],
        }


@dataclass(frozen=True)
class HandsOptions:
    """static_image_mode: run the palm detector on every image (no tracking).
    max_num_hands: palm detections kept per frame (the tracker can exceed it briefly, as MediaPipe's).
    model_complexity: 0 = lite palm + landmark models, 1 = full.
    min_detection_confidence: palm score threshold.
    min_tracking_confidence: hand presence threshold (strictly greater passes).
    flip_handedness: swap Left/Right, for un-mirrored input (MediaPipe assumes a mirrored selfie image).
    smooth_landmarks: One-Euro smoothing per tracked hand in tracking mode (not in MediaPipe's legacy Hands).
    runtime: threads, model files, delegate (`RuntimeOptions`), for the palm and landmark models.
    """

    static_image_mode: bool = False
    max_num_hands: int = 2
    model_complexity: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    flip_handedness: bool = False
    smooth_landmarks: bool = False
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if self.max_num_hands < 1:
            raise ValueError(f"max_num_hands must be >= 1, got {self.max_num_hands}")
        if self.model_complexity not in (0, 1):
            raise ValueError(f"model_complexity must be 0 or 1, got {self.model_complexity}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0,1], got {v}")


# One-Euro settings of MediaPipe's pose landmark filter (6.7), reused for hands:
# image landmarks in pixels scaled by the hand size, world landmarks in metres.
_SMOOTH_IMAGE = dict(min_cutoff=0.05, beta=80.0, derivate_cutoff=1.0)
_SMOOTH_WORLD = dict(min_cutoff=0.1, beta=40.0, derivate_cutoff=1.0)


_SIZES = ("lite", "full")  # model file sizes by model_complexity


class Hands:
    """Hand landmarks for a stream of RGB images (or independent images in static mode).

    One instance per stream: it holds the tracked ROIs and filters. `process` is
    thread-safe but frames are processed one at a time.
    """

    def __init__(
        self,
        options: HandsOptions | None = None,
        *,
        palm_model_path: str | None = None,
        landmark_model_path: str | None = None,
    ) -> None:
        self.options = o = options or HandsOptions()
        runtime = fold_legacy_options("Hands", o.runtime, _stacklevel=3,
                                      **{f"palm_detection_{_SIZES[o.model_complexity]}": palm_model_path,
                                         f"hand_landmark_{_SIZES[o.model_complexity]}": landmark_model_path})
        self.palm_detector = PalmDetector(
            PalmDetectorOptions(o.model_complexity, o.min_detection_confidence, runtime=runtime)
        )
        self.landmark_model = HandLandmarkModel(o.model_complexity, runtime=runtime)
        self._tracker = LandmarkTracker(o.max_num_hands, tracking=not o.static_image_mode)
        self._smoothers: dict[int, tuple[LandmarksSmoother, LandmarksSmoother]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget tracked hands and filter state (start of a new stream)."""
        with self._lock:
            self._tracker.reset()
            self._smoothers.clear()

    def process(self, image: np.ndarray, timestamp_ms: float | None = None) -> HandsResult:
        """Hands in one RGB uint8 image. timestamp_ms: the frame time (must increase in tracking
        mode); None advances MediaPipe's simulated 30 fps clock."""
        image = check_rgb_image(image)
        size = (image.shape[1], image.shape[0])
        with self._lock:
            return self._tracker.step(
                lambda: hand_rects_from_palms(self.palm_detector.detect_normalized(image), size),
                lambda plan: self._infer(image, size, plan),
                timestamp_ms,
            )

    def _infer(self, image: np.ndarray, size: ImageSize, plan: TrackPlan
               ) -> tuple[HandsResult, TrackedObjects]:
        o = self.options
        out = self.landmark_model.run(image, plan.rois)
        keep = out.presence > o.min_tracking_confidence
        lm = out.landmarks[keep]
        world = out.world_landmarks[keep]
        ids = plan.track_ids[keep]
        # Binary classification: "Left" scores s, "Right" 1 - s; the higher one is reported.
        s = out.left_score[keep]
        is_right = s < 0.5
        score = np.where(is_right, 1.0 - s, s).astype(np.float32)
        label = is_right.astype(np.int8)
        if o.flip_handedness:
            label = 1 - label
        next_rois = hand_rects_for_next_frame(lm, size)
        if o.smooth_landmarks and not o.static_image_mode:
            lm, world = self._smooth(lm, world, ids, size, plan.timestamp_ms / 1000.0)
        result = HandsResult(lm, out.presence[keep], plan.rois[keep], size,
                             world_landmarks=world, handedness=label, handedness_score=score, track_ids=ids)
        return result, TrackedObjects(keep, next_rois)

    def _smooth(self, lm: np.ndarray, world: np.ndarray, ids: np.ndarray, size: ImageSize, t: float):
        # Filters live as long as their track: a lost hand's state is dropped (MediaPipe resets
        # a landmark filter when its object disappears).
        self._smoothers = {i: f for i, f in self._smoothers.items() if i in set(ids.tolist())}
        lm, world = lm.copy(), world.copy()
        for k, tid in enumerate(ids.tolist()):
            if tid not in self._smoothers:
                self._smoothers[tid] = (LandmarksSmoother(**_SMOOTH_IMAGE),
                                        LandmarksSmoother(**_SMOOTH_WORLD, disable_value_scaling=True,
                                                          normalized=False))
            f_img, f_world = self._smoothers[tid]
            lm[k] = f_img(lm[k], t, size)
            world[k] = f_world(world[k], t)
        return lm, world
