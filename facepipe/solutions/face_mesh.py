"""468/478-point face mesh (MediaPipe's legacy mp.solutions.face_mesh), images and video.

Per frame (reference 1.12 and 3): the short-range face detector runs only when
fewer than `max_num_faces` faces are tracked; each detection becomes a ROI
(box, rotation eye->eye, x1.5, square); tracked ROIs from the previous frame's
landmarks replace overlapping detections; every ROI's 192x192 crop goes to
face_landmark.tflite in one batched call; faces whose presence is not above
`min_tracking_confidence` are dropped; survivors give the next frame's ROIs
(all landmarks' box, rotation 33->263, x1.5, square).

`refine_landmarks=True` runs MediaPipe's attention mesh instead
(face_landmark_with_attention.tflite, 478 points with refined lips, eyes and
irises; its custom operators run in numpy, see `facepipe.solutions.attention_mesh`):
the same numbers as mediapipe's refined mesh, bit for bit on the shared photos.

Smoothing: the legacy face mesh has none, so `smooth_landmarks` defaults to
False for parity. When on (video mode only), each tracked face gets a One-Euro
filter with the Tasks FaceLandmarker's parameters (min_cutoff 0.05, beta 80,
derivate_cutoff 1, object scale from the landmarks' box) driven by the real
timestamps; a face's filter is dropped when the face is lost.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facepipe.io.image import ensure_rgb_uint8
from facepipe.results import Detections, ImageSize, Landmarks
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.solutions.attention_mesh import AttentionMeshModel, refine_attention_outputs
from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions
from facepipe.solutions.landmark_tracker import LandmarkTracker, TrackedObjects, TrackPlan
from facepipe.stages.detection_decode import RawDetections
from facepipe.stages.filters import LandmarksSmoother
from facepipe.stages.image_to_tensor import BORDER_REPLICATE, crop_geometry, warp_to_tensor
from facepipe.stages.libm32 import sigmoidf
from facepipe.stages.projection import project_landmarks
from facepipe.stages.rects import rects_from_detections, rects_from_landmarks, transform_rects

__all__ = [
    "FaceMesh",
    "FaceMeshOptions",
    "FaceMeshResult",
    "FACEMESH_NUM_LANDMARKS",
    "FACEMESH_NUM_LANDMARKS_WITH_IRISES",
    "detection_rois",
    "normalized_detection_rois",
    "landmark_rois",
]

FACEMESH_NUM_LANDMARKS = 468
FACEMESH_NUM_LANDMARKS_WITH_IRISES = 478
_INPUT_SIZE = 192
_ROI_SCALE = 1.5


@dataclass(frozen=True)
class FaceMeshOptions:
    """MediaPipe's FaceMesh arguments plus facepipe's extras.

    static_image_mode: every image is independent (detector on every call);
        False = video: track faces from frame to frame.
    max_num_faces: faces the detector may add; tracking can briefly exceed it
        when a new face does not overlap a tracked one, as in MediaPipe.
    refine_landmarks: 478 points (refined lips and eyes, irises) from the attention mesh instead of 468.
    min_detection_confidence: face detector score threshold.
    min_tracking_confidence: landmark presence threshold (strictly greater passes),
        applied to every landmark inference, as MediaPipe does.
    smooth_landmarks: One-Euro smoothing in video mode (legacy face mesh: none).
    smoothing_min_cutoff / smoothing_beta / smoothing_derivate_cutoff: its parameters.
    runtime: threads, model files, delegate (`RuntimeOptions`), for the detector and mesh models.
    """

    static_image_mode: bool = False
    max_num_faces: int = 1
    refine_landmarks: bool = False
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    smooth_landmarks: bool = False
    smoothing_min_cutoff: float = 0.05
    smoothing_beta: float = 80.0
    smoothing_derivate_cutoff: float = 1.0
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if int(self.max_num_faces) != self.max_num_faces or self.max_num_faces < 1:
            raise ValueError(f"max_num_faces must be an integer >= 1, got {self.max_num_faces!r}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v!r}")

    @property
    def num_landmarks(self) -> int:
        return FACEMESH_NUM_LANDMARKS_WITH_IRISES if self.refine_landmarks else FACEMESH_NUM_LANDMARKS


@dataclass(frozen=True, eq=False)
class FaceMeshResult(Landmarks):
    """Faces found in one image (N may be 0).

    landmarks: (N,468|478,3) float32 normalized (x/W, y/H, z in x's scale);
    `pixels` gives them in pixels. presence: (N,) face presence score.
    rois: (N,5) the ROI each face's landmarks were read from.
    track_ids: (N,) int64 id of each face; stable while a face is tracked in
        video mode, 0..N-1 in static mode.
    """

    track_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.landmarks.shape[0]
        ids = np.asarray(self.track_ids, np.int64).reshape(-1)
        if ids.shape[0] == 0 and n:
            ids = np.arange(n, dtype=np.int64)
        if ids.shape[0] != n:
            raise ValueError(f"FaceMeshResult: {n} faces but {ids.shape[0]} track ids")
        object.__setattr__(self, "track_ids", ids)

    def to_dict(self, *, pixels: bool = False, decimals: int | None = 6) -> dict[str, Any]:
        """JSON-ready: image size and, per face, track id, presence, ROI and landmarks
        (normalized like MediaPipe's, or in pixels with `pixels=True`)."""

        def r(a: np.ndarray) -> Any:
            return (np.round(a.astype(np.float64), decimals) if decimals is not None else a).tolist()

        lms = self.pixels if pixels else self.landmarks
        key = "landmarks_px" if pixels else "landmarks"
        faces = [
            {"track_id": int(t), "presence": float(p), "roi": r(roi), key: r(lm)}
            for t, p, roi, lm in zip(self.track_ids, self.presence, self.rois, lms)
        ]
        return {"image_size": list(self.image_size), "faces": faces}


def detection_rois(detections: Detections, max_num: int | None = None) -> np.ndarray:
    """Face-mesh ROIs of pixel face detections (reference 3.2); see `normalized_detection_rois`."""
    raw = RawDetections(detections.normalized_xyxy(), detections.normalized_keypoints(), detections.scores)
    return normalized_detection_rois(raw, detections.image_size, max_num)


def normalized_detection_rois(dets: RawDetections, image_size: ImageSize, max_num: int | None = None) -> np.ndarray:
    """Face-mesh ROIs of image-normalized detections (reference 3.2): box, rotation kp0->kp1 at 0 deg,
    x1.5, square_long. Normalized input is what MediaPipe's graph passes on: going through pixels
    and back is not always the same float32 number."""
    if max_num is not None and len(dets) > max_num:
        dets = dets.take(slice(0, max_num))
    if len(dets) == 0:
        return np.zeros((0, 5), np.float32)
    rects = rects_from_detections(dets, image_size, start=0, end=1, target_deg=0.0)
    return transform_rects(rects, image_size, scale_x=_ROI_SCALE, scale_y=_ROI_SCALE, square_long=True)


def landmark_rois(landmarks: np.ndarray, image_size: ImageSize) -> np.ndarray:
    """Next-frame ROIs from (N,P,3) normalized meshes (reference 3.5): all points' box, 33->263, x1.5, square."""
    if len(landmarks) == 0:
        return np.zeros((0, 5), np.float32)
    rects = rects_from_landmarks(landmarks, image_size, start=33, end=263, target_deg=0.0)
    return transform_rects(rects, image_size, scale_x=_ROI_SCALE, scale_y=_ROI_SCALE, square_long=True)


class FaceMesh:
    """MediaPipe's FaceMesh on LiteRT. One instance per video stream.

    `process(rgb, timestamp_ms=None)` handles one image or video frame;
    `process_batch(images)` handles many independent images (static mode, one
    model call per stage). State (tracked faces, filters, clock) is per
    instance and guarded by a lock; separate instances share nothing.
    """

    def __init__(
        self,
        options: FaceMeshOptions | None = None,
        *,
        landmark_model_path: str | None = None,
        iris_model_path: str | None = None,
        detector_model_path: str | None = None,
    ) -> None:
        self.options = opts = options or FaceMeshOptions()
        runtime = fold_legacy_options("FaceMesh", opts.runtime, _stacklevel=3, face_landmark=landmark_model_path,
                                      iris_landmark=iris_model_path, face_detection_short_range=detector_model_path)
        self._detector = FaceDetector(
            FaceDetectorOptions(model="short", min_score=opts.min_detection_confidence, runtime=runtime)
        )
        # refine_landmarks: MediaPipe's attention mesh (478 points from one model), as mediapipe does.
        self._attention = AttentionMeshModel(runtime=runtime) if opts.refine_landmarks else None
        self._model = None if opts.refine_landmarks else runtime.load("face_landmark")
        self._tracker = LandmarkTracker(opts.max_num_faces, tracking=not opts.static_image_mode)
        self._smoothers: dict[int, LandmarksSmoother] = {}
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------

    def process(self, image: np.ndarray, timestamp_ms: float | None = None) -> FaceMeshResult:
        """Face meshes of one RGB uint8 image (greyscale/RGBA are converted).

        In video mode `timestamp_ms` must increase strictly from call to call
        (ValueError otherwise); None advances a simulated 30 fps clock, as
        MediaPipe's legacy solutions do. Static mode ignores it.
        """
        image = ensure_rgb_uint8(image)
        size = (image.shape[1], image.shape[0])
        return self._tracker.step(
            lambda: normalized_detection_rois(
                self._detector.detect_normalized(image), size, self.options.max_num_faces
            ),
            lambda plan: self._infer(image, size, plan),
            timestamp_ms,
        )

    def process_batch(self, images: Sequence[np.ndarray]) -> list[FaceMeshResult]:
        """Static-mode face meshes of many independent images (tracking state untouched).

        One detector call for all images, one landmark call for all faces.
        """
        images = [ensure_rgb_uint8(im) for im in images]
        if not images:
            return []
        sizes = [(im.shape[1], im.shape[0]) for im in images]
        rois = [detection_rois(d, self.options.max_num_faces) for d in self._detector.detect_batch(images)]
        meshes, presence, keep = self._landmarks(images, rois)
        counts = np.cumsum([len(r) for r in rois])[:-1]
        keep_per = np.split(keep, counts)
        meshes_per = np.split(meshes, np.cumsum([int(k.sum()) for k in keep_per])[:-1])
        pres_per = np.split(presence[keep], np.cumsum([int(k.sum()) for k in keep_per])[:-1])
        return [
            FaceMeshResult(m, p, r[k], s)
            for m, p, r, k, s in zip(meshes_per, pres_per, rois, keep_per, sizes)
        ]

    def reset(self) -> None:
        """Forget tracked faces, filters and the clock (start of a new video)."""
        self._tracker.reset()
        with self._lock:  # not nested in the tracker's lock: process() takes them in the other order
            self._smoothers.clear()

    def close(self) -> None:
        """Kept for MediaPipe API familiarity; models are freed with the object."""

    def __enter__(self) -> FaceMesh:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- pipeline -----------------------------------------------------------

    def _landmarks(
        self, images: Sequence[np.ndarray], rois: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the landmark model on every ROI of every image in one call.

        Returns the kept faces' (K,468|478,3) projected meshes, the (M,) presence of
        every ROI and the (M,) keep mask (presence > min_tracking_confidence).
        """
        total = sum(len(r) for r in rois)
        if total == 0:
            return np.zeros((0, self.options.num_landmarks, 3), np.float32), np.zeros(0, np.float32), np.zeros(0, bool)
        s = _INPUT_SIZE
        # Geometry first (it validates the ROIs), then the crops are warped straight into
        # the interpreter's input: no batch array, no input copy.
        jobs = [
            (image, crop_geometry((image.shape[1], image.shape[0]), roi, s, s).warp)
            for image, image_rois in zip(images, rois)
            for roi in image_rois
        ]

        def fill(ins: list[np.ndarray]) -> None:
            for k, (image, warp) in enumerate(jobs):
                warp_to_tensor(image, warp, ins[0][k], border=BORDER_REPLICATE, value_range=(0.0, 1.0))

        def read(outs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            raw, flag = outs
            presence = sigmoidf(flag.reshape(-1))
            keep = presence > np.float32(self.options.min_tracking_confidence)
            # x / 192 as MediaPipe divides (x * (1 / 192) differs in the last bit, which tracking feeds back)
            return raw.reshape(total, 468, 3)[keep] / np.float32(s), presence, keep  # [keep] copies

        if self._attention is not None:
            refined, flag = refine_attention_outputs(self._attention.run_filled(total, fill))
            presence = sigmoidf(flag)
            keep = presence > np.float32(self.options.min_tracking_confidence)
            pts = refined[keep]
        else:
            pts, presence, keep = self._model.run_filled(total, fill, read)
        all_rois = np.concatenate([np.asarray(r, np.float32).reshape(-1, 5) for r in rois])
        return project_landmarks(pts, all_rois[keep]), presence, keep

    # Stages for pipelines that choose their own ROIs (Holistic, the anonymizer's face outlines).

    @property
    def detector(self) -> FaceDetector:
        """The short-range face detector this FaceMesh uses."""
        return self._detector

    def landmarks_in_rois(self, image: np.ndarray, rois: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Meshes in given (M,5) ROIs of one image, no detection or tracking: the kept
        faces' (K,468|478,3) meshes, the (M,) presence of every ROI and the (M,) keep mask."""
        return self._landmarks([image], [np.asarray(rois, np.float32).reshape(-1, 5)])

    def refine_eyes(self, image: np.ndarray, meshes: np.ndarray) -> np.ndarray:
        """`meshes` as they are: with refine_landmarks the landmark model itself gives the 478 refined points."""
        return meshes

    def _infer(self, image: np.ndarray, size: ImageSize, plan: TrackPlan) -> tuple[FaceMeshResult, TrackedObjects]:
        n_pts = self.options.num_landmarks
        out, presence, keep = self._landmarks([image], [plan.rois])
        # Next-frame ROIs from all the landmarks MediaPipe outputs (478 with the attention mesh).
        next_rois = landmark_rois(out, size)
        ids = plan.track_ids[keep]
        if self.options.smooth_landmarks and self._tracker.tracking:
            out = self._smooth(out, ids, plan.timestamp_ms, size)
        result = FaceMeshResult(
            out.reshape(-1, n_pts, 3), presence[keep], plan.rois[keep], size, track_ids=ids
        )
        return result, TrackedObjects(keep, next_rois)

    def _smooth(self, landmarks: np.ndarray, ids: np.ndarray, timestamp_ms: float, size: ImageSize) -> np.ndarray:
        o = self.options
        with self._lock:
            # A lost face's filter goes away (MediaPipe resets on an empty packet).
            for gone in set(self._smoothers) - {int(i) for i in ids}:
                del self._smoothers[gone]
            out = np.empty_like(landmarks)
            for j, tid in enumerate(ids):
                sm = self._smoothers.get(int(tid))
                if sm is None:
                    sm = self._smoothers[int(tid)] = LandmarksSmoother(
                        o.smoothing_min_cutoff, o.smoothing_beta, o.smoothing_derivate_cutoff
                    )
                out[j] = sm(landmarks[j], timestamp_ms / 1000.0, size)
            return out
