"""BlazePose body landmarks (MediaPipe's `mp.solutions.pose`, reference section 6).

Pipeline: person detection (first detection only) -> rotated ROI -> pose
landmark model (33 landmarks + 2 auxiliary alignment points, heatmap-refined,
world landmarks, optional segmentation) -> MediaPipe's filters -> next-frame
ROI from the filtered auxiliary points. Single person, as in MediaPipe.

Smoothing follows MediaPipe exactly (6.7/6.8), including which filters keep
their state across frames without a person: the image-landmark and auxiliary
coordinate filters reset, the visibility filters and the world-landmark filter
do not. Timestamps are real (the frame's time) when given, else MediaPipe's
simulated 30 fps clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from facepipe.io.image import check_rgb_image
from facepipe.results import ImageSize, Landmarks, as_f32
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.solutions.landmark_tracker import LandmarkTracker, TrackedObjects, TrackPlan
from facepipe.solutions.pose_detection import PoseDetector, PoseDetectorOptions, pose_rects_from_detections
from facepipe.stages.filters import LandmarksSmoother, VisibilitySmoother, roi_object_scale, smooth_segmentation
from facepipe.stages.heatmap import refine_landmarks_from_heatmap
from facepipe.stages.image_to_tensor import BORDER_REPLICATE, CropGeometry, crop_geometry, warp_to_tensor
from facepipe.stages.libm32 import sigmoidf
from facepipe.stages.projection import project_landmarks, remove_letterbox_points, rotate_world_landmarks
from facepipe.stages.rects import rects_from_alignment_points, transform_rects

__all__ = [
    "Pose",
    "PoseOptions",
    "PoseResult",
    "PoseLandmark",
    "PoseLandmarkModel",
    "PoseLandmarkOutput",
    "POSE_LANDMARK_NAMES",
    "NUM_POSE_LANDMARKS",
]

NUM_POSE_LANDMARKS = 33
_NUM_MODEL_POINTS = 39  # 33 landmarks, 2 auxiliary (ROI alignment), 4 unused by MediaPipe
_AUX = slice(33, 35)
_INPUT = 256
POSE_LANDMARK_MODELS = {0: "pose_landmark_lite", 1: "pose_landmark_full", 2: "pose_landmark_heavy"}
_MODEL_NAMES = POSE_LANDMARK_MODELS

POSE_LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)


class PoseLandmark:
    """Indices of the 33 landmarks (sides are the subject's own)."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # In place on one temporary (the mask is 65k values): the same float32 ufuncs as
    # 1 / (1 + exp(-x)), without three more full-size arrays.
    t = np.negative(x, dtype=np.float32)
    with np.errstate(over="ignore"):  # exp overflow to inf gives exactly 0, which is right
        np.exp(t, out=t)
    t += np.float32(1.0)
    return np.divide(np.float32(1.0), t, out=t)


def _zeros(*shape: int, dtype=np.float32):
    return lambda: np.zeros(shape, dtype)


@dataclass(frozen=True, eq=False)
class PoseResult(Landmarks):
    """At most one person (N = 0 or 1), MediaPipe's outputs as arrays.

    landmarks: (N,33,3) normalized x/W, y/H, z (x's scale, hip-relative depth).
    presence: (N,) pose flag; rois: (N,5) the ROI the landmarks were read from.
    visibility: (N,33) smoothed visibility (MediaPipe's `visibility`).
    landmark_presence: (N,33) per-landmark presence (MediaPipe computes it, then clears it in Python).
    world_landmarks: (N,33,3) metres, origin between the hips.
    world_visibility: (N,33) visibility of the world landmarks (smoothed by their own filter).
    segmentation_mask: (N,H,W) float32 person probability, N = 0 when segmentation is off.
    """

    visibility: np.ndarray = field(default_factory=_zeros(0, NUM_POSE_LANDMARKS))
    landmark_presence: np.ndarray = field(default_factory=_zeros(0, NUM_POSE_LANDMARKS))
    world_landmarks: np.ndarray = field(default_factory=_zeros(0, NUM_POSE_LANDMARKS, 3))
    world_visibility: np.ndarray = field(default_factory=_zeros(0, NUM_POSE_LANDMARKS))
    segmentation_mask: np.ndarray = field(default_factory=_zeros(0, 0, 0))

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.landmarks.shape[0]
        for name in ("visibility", "landmark_presence", "world_visibility"):
            object.__setattr__(self, name, as_f32(getattr(self, name), (NUM_POSE_LANDMARKS,)))
        object.__setattr__(self, "world_landmarks", as_f32(self.world_landmarks, (NUM_POSE_LANDMARKS, 3)))
        mask = np.asarray(self.segmentation_mask, np.float32)
        if mask.size == 0:
            W, H = self.image_size
            mask = np.zeros((0, H, W), np.float32)
        object.__setattr__(self, "segmentation_mask", mask.reshape(-1, *mask.shape[-2:]))
        for name in ("visibility", "landmark_presence", "world_landmarks", "world_visibility"):
            if getattr(self, name).shape[0] != n:
                raise ValueError(f"PoseResult.{name} has {getattr(self, name).shape[0]} rows, landmarks {n}")
        if self.segmentation_mask.shape[0] not in (0, n):
            raise ValueError(f"PoseResult.segmentation_mask has {self.segmentation_mask.shape[0]} masks for {n} poses")

    @classmethod
    def empty(cls, num_points: int = NUM_POSE_LANDMARKS, image_size: ImageSize = (0, 0)) -> PoseResult:
        return cls(np.zeros((0, num_points, 3), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 5), np.float32), image_size)

    def to_dict(self) -> dict:
        return {
            "image_size": list(self.image_size),
            "poses": [
                {
                    "presence": float(self.presence[i]),
                    "roi": self.rois[i].tolist(),
                    "landmarks": [
                        {"name": name, "x": float(p[0]), "y": float(p[1]), "z": float(p[2]),
                         "visibility": float(v), "presence": float(q)}
                        for name, p, v, q in zip(POSE_LANDMARK_NAMES, self.landmarks[i], self.visibility[i],
                                                 self.landmark_presence[i], strict=True)
                    ],
                    "world_landmarks": [
                        {"name": name, "x": float(p[0]), "y": float(p[1]), "z": float(p[2]), "visibility": float(v)}
                        for name, p, v in zip(POSE_LANDMARK_NAMES, self.world_landmarks[i],
                                              self.world_visibility[i], strict=True)
                    ],
                }
                for i in range(len(self))
            ],
        }


@dataclass(frozen=True)
class PoseLandmarkOutput:
    """Raw pose landmark model result for one ROI, mapped to the image.

    points: (39,5) image-normalized x, y, z, visibility, presence (33 landmarks, 2 aux, 4 unused).
    world: (33,3) metres, rotated by the ROI.
    presence: pose flag. crop: the crop's geometry (its matrix maps the mask back).
    mask_logits: (256,256) segmentation logits in the crop; None unless requested.
    """

    points: np.ndarray
    world: np.ndarray
    presence: float
    crop: CropGeometry
    mask_logits: np.ndarray | None


class PoseLandmarkModel:
    """pose_landmark_lite/full/heavy on one ROI."""

    def __init__(self, model_complexity: int = 1, *, runtime: RuntimeOptions | None = None,
                 model_path: str | None = None, num_threads: int | None = None) -> None:
        if model_complexity not in _MODEL_NAMES:
            raise ValueError(f"pose model_complexity must be 0, 1 or 2, got {model_complexity}")
        name = _MODEL_NAMES[model_complexity]
        runtime = fold_legacy_options("PoseLandmarkModel", runtime or RuntimeOptions(), num_threads, _stacklevel=3,
                                      **{name: model_path})
        self.model = runtime.load(name)

    def run(self, image: np.ndarray, roi: np.ndarray, *, mask: bool = True) -> PoseLandmarkOutput:
        """Landmarks of the person in `roi`; `mask=False` skips the segmentation output."""
        roi = np.asarray(roi, np.float32).reshape(5)
        geo = crop_geometry((image.shape[1], image.shape[0]), roi, _INPUT, _INPUT, keep_aspect=True)

        def fill(ins: list[np.ndarray]) -> None:
            warp_to_tensor(image, geo.warp, ins[0][0], border=BORDER_REPLICATE, value_range=(0.0, 1.0))

        def read(outs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
            # The outputs are read where they lie: the 640 KB heatmap only through its 9x9 windows
            # and the 256 KB mask only when requested (instead of copying all of them every frame).
            raw, flag, seg, heatmap, world = outs
            pts = raw.reshape(_NUM_MODEL_POINTS, 5).copy()
            pts[:, :3] /= np.float32(_INPUT)
            pts[:, 3:5] = sigmoidf(pts[:, 3:5])  # libm-exact: visibility gates holistic's hands
            # kernel 9: measured against mediapipe 0.10.21 (the reference doc says 7; 7 moves some points by px).
            pts = refine_landmarks_from_heatmap(pts, heatmap[0], kernel_size=9, min_confidence_to_refine=0.5)
            w = world.reshape(_NUM_MODEL_POINTS, 3)[:NUM_POSE_LANDMARKS].copy()
            logits = seg.reshape(_INPUT, _INPUT).copy() if mask else None
            return pts, w, float(flag.reshape(-1)[0]), logits

        pts, world, presence, logits = self.model.run_filled(1, fill, read)
        pts[:, :3] = project_landmarks(remove_letterbox_points(pts[:, :3], geo.padding), roi)
        w = rotate_world_landmarks(world, roi[4])
        return PoseLandmarkOutput(pts, w, presence, geo, logits)


def warp_mask_to_image(mask: np.ndarray, crop_matrix: np.ndarray, image_size: ImageSize) -> np.ndarray:
    """(H,W) float32 image mask from a crop-space mask (MediaPipe's WarpAffine, zero border)."""
    W, H = image_size
    mh, mw = mask.shape
    m = np.asarray(crop_matrix, np.float64)
    affine = np.array([[m[0, 0], m[0, 1], m[0, 3]], [m[1, 0], m[1, 1], m[1, 3]], [0.0, 0.0, 1.0]])
    # Destination pixel (x, y) samples the mask at S_src . M^-1 . (x/W, y/H).
    to_mask = np.diag([mw, mh, 1.0]) @ np.linalg.inv(affine) @ np.diag([1.0 / W, 1.0 / H, 1.0])
    return cv2.warpAffine(mask, to_mask[:2], (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def _aux_alignment_rect(aux: np.ndarray, image_size: ImageSize) -> np.ndarray:
    """(1,5) AlignmentPointsRects over the two aux points (centre aux0, side 2*|aux1-aux0|, 90 deg)."""
    return rects_from_alignment_points(aux[0:1, :2], aux[1:2, :2], image_size, target_deg=90.0)


@dataclass(frozen=True)
class PoseOptions:
    """MediaPipe's Pose options.

    static_image_mode: detect on every image; no tracking, no smoothing.
    model_complexity: 0 lite, 1 full, 2 heavy (landmark model).
    smooth_landmarks: One-Euro filtering of landmarks in video mode (MediaPipe's default: on).
    enable_segmentation: also return the person mask.
    smooth_segmentation: blend each mask with the previous one where it is uncertain (video mode,
        MediaPipe's SegmentationSmoothing, ratio 0.7). Off by default because mediapipe 0.10.21,
        although its graph declares this blend, returns the unblended mask on every frame
        (measured: its filtered and unfiltered mask streams are identical), and the default
        output matches MediaPipe's.
    min_detection_confidence: person detector threshold; min_tracking_confidence: pose flag threshold.
    runtime: threads, model files, delegate (`RuntimeOptions`), for the detector and landmark models.
    """

    static_image_mode: bool = False
    model_complexity: int = 1
    smooth_landmarks: bool = True
    enable_segmentation: bool = False
    smooth_segmentation: bool = False
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if self.model_complexity not in _MODEL_NAMES:
            raise ValueError(f"model_complexity must be 0, 1 or 2, got {self.model_complexity}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0,1], got {v}")


class _PoseFilters:
    """pose_landmark_filtering + segmentation smoothing state, with MediaPipe's reset rules."""

    def __init__(self) -> None:
        self.landmarks = LandmarksSmoother(0.05, 80.0, 1.0)
        self.world = LandmarksSmoother(0.1, 40.0, 1.0, disable_value_scaling=True, normalized=False)
        self.aux = LandmarksSmoother(0.01, 10.0, 1.0)
        self.vis_landmarks = VisibilitySmoother(0.1)
        self.vis_world = VisibilitySmoother(0.1)
        self.prev_mask: np.ndarray | None = None

    def lost(self) -> None:
        # Only filters fed IMAGE_SIZE every frame see the loss (1.13): the coordinate filters of
        # the image landmarks and aux points. Visibility and world filters keep their state.
        self.landmarks.reset()
        self.aux.reset()
        self.prev_mask = None


class Pose:
    """Body landmarks for a stream of RGB images (or independent images in static mode).

    One instance per stream; `process` is thread-safe, frames are processed one at a time.
    """

    def __init__(
        self,
        options: PoseOptions | None = None,
        *,
        detector_model_path: str | None = None,
        landmark_model_path: str | None = None,
    ) -> None:
        self.options = o = options or PoseOptions()
        runtime = fold_legacy_options("Pose", o.runtime, _stacklevel=3, pose_detection=detector_model_path,
                                      **{_MODEL_NAMES[o.model_complexity]: landmark_model_path})
        self.detector = PoseDetector(PoseDetectorOptions(o.min_detection_confidence, runtime=runtime))
        self.landmark_model = PoseLandmarkModel(o.model_complexity, runtime=runtime)
        self._tracker = LandmarkTracker(1, tracking=not o.static_image_mode)
        self._filters = _PoseFilters()
        self._lock = threading.Lock()

    @property
    def smoothing(self) -> bool:
        return self.options.smooth_landmarks and not self.options.static_image_mode

    def reset(self) -> None:
        """Forget the tracked person and all filter state (start of a new stream)."""
        with self._lock:
            self._tracker.reset()
            self._filters = _PoseFilters()

    def process(self, image: np.ndarray, timestamp_ms: float | None = None) -> PoseResult:
        """The person in one RGB uint8 image. timestamp_ms: frame time (increasing in video
        mode); None advances MediaPipe's simulated 30 fps clock."""
        image = check_rgb_image(image)
        size = (image.shape[1], image.shape[0])
        with self._lock:
            return self._tracker.step(
                lambda: pose_rects_from_detections(self.detector.detect_normalized(image).take(slice(0, 1)), size),
                lambda plan: self._infer(image, size, plan),
                timestamp_ms,
            )

    def _infer(self, image: np.ndarray, size: ImageSize, plan: TrackPlan) -> tuple[PoseResult, TrackedObjects]:
        o = self.options
        f = self._filters
        if len(plan) == 0:
            f.lost()
            return PoseResult.empty(image_size=size), TrackedObjects(np.zeros(0, bool), np.zeros((0, 5)))
        roi = plan.rois[0]
        out = self.landmark_model.run(image, roi, mask=o.enable_segmentation)
        if not out.presence > o.min_tracking_confidence:
            f.lost()
            return PoseResult.empty(image_size=size), TrackedObjects(np.zeros(1, bool), np.zeros((0, 5)))
        t = plan.timestamp_ms / 1000.0
        pts = out.points
        lm, vis, pres = pts[:NUM_POSE_LANDMARKS, :3], pts[:NUM_POSE_LANDMARKS, 3], pts[:NUM_POSE_LANDMARKS, 4]
        world, world_vis = out.world, vis
        next_rois = roi[None]  # placeholder: static mode never reuses it
        if not o.static_image_mode:
            # Object scale for the filters: the un-scaled alignment box of the *raw* aux points.
            object_scale = roi_object_scale(_aux_alignment_rect(pts[_AUX], size)[0], size)
            if self.smoothing:
                vis = f.vis_landmarks(vis)
                lm = f.landmarks(lm, t, size, object_scale)
                world_vis = f.vis_world(world_vis)
                world = f.world(world, t)
            aux = f.aux(pts[_AUX, :3], t, size, object_scale)
            next_rois = transform_rects(_aux_alignment_rect(aux, size), size, scale_x=1.25, scale_y=1.25)
        mask = np.zeros((0, size[1], size[0]), np.float32)
        if o.enable_segmentation:
            m = warp_mask_to_image(_sigmoid(out.mask_logits), out.crop.matrix, size)
            if o.smooth_segmentation and not o.static_image_mode:
                m = smooth_segmentation(m, f.prev_mask, 0.7)
                f.prev_mask = m
            mask = m[None]
        result = PoseResult(
            lm[None], [out.presence], roi[None], size,
            visibility=vis[None], landmark_presence=pres[None], world_landmarks=world[None],
            world_visibility=world_vis[None], segmentation_mask=mask,
        )
        return result, TrackedObjects(np.ones(1, bool), next_rois)
