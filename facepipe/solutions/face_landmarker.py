"""Face Landmarker (MediaPipe Tasks parity): 478 landmarks, 52 blendshapes, facial transformation matrices.

Pipeline, as the Tasks graphs in mediapipe 0.10.21 build it
(tasks/cc/vision/face_landmarker/*, face_detector/face_detector_graph.cc):

1. BlazeFace short range (the bundle's face_detector = blaze_face_short_range),
   detections clipped to `num_faces`; each becomes an ROI: bounding box, rotation
   from keypoint 0 -> 1 (eyes) to 0 deg, scaled 1.5x. Unlike the legacy Face Mesh
   the Tasks detector ROI is NOT squared (no square_long).
2. In VIDEO / LIVE_STREAM modes the ROIs of the previous frame's faces are used
   and the detector runs only while fewer than `num_faces` faces are tracked. The
   tracked ROIs come first and detections are added after them, replacing any
   tracked ROI they overlap with IoU > `min_tracking_confidence` (Tasks uses that
   option as the association threshold); the list is clipped to `num_faces`.
3. face_landmarks_detector: 256x256 crop stretched from the ROI (no letterbox,
   replicate border, [0,1]); 478 (x, y, z)/256 projected with the ROI's matrix,
   z scaled by the projected length of the crop's unit x vector. A face is kept
   when sigmoid(presence logit) > `min_face_presence_confidence`.
   Next-frame ROI: landmarks' bounding box, rotation 33 -> 263, 1.5x, square.
4. VIDEO / LIVE_STREAM with num_faces == 1: One-Euro smoothing (min_cutoff 0.05,
   beta 80, derivative cutoff 1) of the landmarks with the real timestamps; reset
   when the face is lost. Blendshapes and geometry use the smoothed landmarks.
5. Optional blendshapes (face_blendshapes.tflite, see blendshapes.py) and face
   geometry (face_geometry.py). Neither model is loaded unless requested.

LIVE_STREAM mode processes frames on one worker thread and never queues more
than one frame: like MediaPipe's flow limiter (1 in flight, 1 waiting), a frame
that arrives while another is waiting replaces it, and the replaced frame is
dropped (no callback). `dropped_frames` counts them.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facepipe.io.image import check_rgb_image
from facepipe.results import Landmarks, as_f32
from facepipe.runtime.options import RuntimeOptions, fold_legacy_options, fold_num_threads_alias
from facepipe.solutions.blendshapes import BLENDSHAPE_NAMES, BlendshapeModel
from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions
from facepipe.solutions.face_geometry import FaceGeometryEstimator, HeadPose, head_pose
from facepipe.stages.filters import LandmarksSmoother
from facepipe.stages.image_to_tensor import BORDER_REPLICATE, crop_geometry, warp_to_tensor
from facepipe.stages.libm32 import sigmoidf
from facepipe.stages.projection import matrix_z_scale
from facepipe.stages.rects import rects_from_detections, rects_from_landmarks, transform_rects
from facepipe.stages.tracking import associate_rects

log = logging.getLogger(__name__)

__all__ = ["FaceLandmarker", "FaceLandmarkerOptions", "FaceLandmarkerResult", "RunningMode", "NUM_LANDMARKS"]

NUM_LANDMARKS = 478
_INPUT_SIZE = 256
_DETECTION_ROI_SCALE = 1.5
_TRACKING_ROI_SCALE = 1.5
# Landmarks 33 and 263: outer corners of the two eyes; they set the next ROI's rotation.
_ROI_ROTATION_FROM, _ROI_ROTATION_TO = 33, 263
# LandmarksSmoothingCalculator settings of the Tasks FaceLandmarker.
_SMOOTH_MIN_CUTOFF, _SMOOTH_BETA, _SMOOTH_DERIVATE_CUTOFF = 0.05, 80.0, 1.0


class RunningMode(enum.Enum):
    """IMAGE: independent images. VIDEO: frames with timestamps, tracking and smoothing.
    LIVE_STREAM: like VIDEO, asynchronous, results delivered to a callback."""

    IMAGE = "image"
    VIDEO = "video"
    LIVE_STREAM = "live_stream"


ResultCallback = Callable[["FaceLandmarkerResult", np.ndarray, int], None]


@dataclass(frozen=True)
class FaceLandmarkerOptions:
    """Options with the Tasks FaceLandmarker's names and defaults.

    num_faces: most faces returned (>= 1).
    min_face_detection_confidence: BlazeFace score threshold.
    min_face_presence_confidence: landmark model presence threshold (sigmoid score must be greater).
    min_tracking_confidence: IoU above which a new detection replaces a tracked face (VIDEO/LIVE_STREAM).
    output_face_blendshapes / output_facial_transformation_matrixes: compute those outputs.
    running_mode: RunningMode or its value ("image", "video", "live_stream").
    result_callback: required in LIVE_STREAM mode (only there): f(result, image, timestamp_ms), called on the
        worker thread.
    smooth_landmarks: None = as Tasks (on in VIDEO/LIVE_STREAM when num_faces == 1); False = off; True needs
        num_faces == 1 (Tasks rejects smoothing several faces).
    runtime: threads, model files, delegate (`RuntimeOptions`), for all three models.
    """

    num_faces: int = 1
    min_face_detection_confidence: float = 0.5
    min_face_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    output_face_blendshapes: bool = False
    output_facial_transformation_matrixes: bool = False
    running_mode: RunningMode | str = RunningMode.IMAGE
    result_callback: ResultCallback | None = field(default=None, compare=False)
    smooth_landmarks: bool | None = None
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        try:
            mode = RunningMode(self.running_mode) if isinstance(self.running_mode, str) else self.running_mode
        except ValueError:
            raise ValueError(
                f"unknown running_mode {self.running_mode!r}; use one of {[m.value for m in RunningMode]}"
            ) from None
        if not isinstance(mode, RunningMode):
            raise ValueError(f"running_mode must be a RunningMode, got {type(self.running_mode).__name__}")
        object.__setattr__(self, "running_mode", mode)
        if not isinstance(self.num_faces, int) or self.num_faces < 1:
            raise ValueError(f"num_faces must be an integer >= 1, got {self.num_faces!r}")
        for name in ("min_face_detection_confidence", "min_face_presence_confidence", "min_tracking_confidence"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if mode is RunningMode.LIVE_STREAM and self.result_callback is None:
            raise ValueError("LIVE_STREAM mode needs a result_callback")
        if mode is not RunningMode.LIVE_STREAM and self.result_callback is not None:
            raise ValueError("result_callback is only used in LIVE_STREAM mode")
        if self.smooth_landmarks and self.num_faces > 1:
            raise ValueError("landmark smoothing supports a single face only (num_faces == 1), as in MediaPipe")

    @property
    def smoothing(self) -> bool:
        """Whether landmarks are smoothed over time with these options."""
        if self.running_mode is RunningMode.IMAGE or self.smooth_landmarks is False:
            return False
        return self.num_faces == 1


@dataclass(frozen=True, eq=False)
class FaceLandmarkerResult(Landmarks):
    """Faces found in one image.

    landmarks: (N,478,3) normalized (x/W, y/H, z in the scale of x; smaller z is nearer).
    presence: (N,) presence score of each face; rois: (N,5) ROI each face was read from.
    blendshapes: (N,52) scores in model order (BLENDSHAPE_NAMES), or None if not requested.
    transformation_matrices: (N,4,4) row-major canonical-face -> camera transform (cm), or None if not
        requested; a row of NaN for a face too small to fit (MediaPipe drops those).
    mesh_vertices: (N,468,3) metric face mesh in the canonical frame (cm), with the matrices.
    timestamp_ms: the frame's timestamp (VIDEO/LIVE_STREAM), None in IMAGE mode.
    """

    blendshapes: np.ndarray | None = None
    transformation_matrices: np.ndarray | None = None
    mesh_vertices: np.ndarray | None = None
    timestamp_ms: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self.landmarks)
        for name, tail in (("blendshapes", (len(BLENDSHAPE_NAMES),)), ("transformation_matrices", (4, 4)),
                           ("mesh_vertices", (468, 3))):
            v = getattr(self, name)
            if v is None:
                continue
            arr = as_f32(v, tail)
            if arr.shape[0] != n:
                raise ValueError(f"{name} has {arr.shape[0]} rows for {n} faces")
            object.__setattr__(self, name, arr)

    @classmethod
    def empty_result(
        cls, image_size: tuple[int, int] = (0, 0), *, blendshapes: bool = False, matrices: bool = False,
        timestamp_ms: int | None = None,
    ) -> FaceLandmarkerResult:
        return cls(
            np.zeros((0, NUM_LANDMARKS, 3), np.float32), np.zeros(0, np.float32), np.zeros((0, 5), np.float32),
            image_size,
            blendshapes=np.zeros((0, len(BLENDSHAPE_NAMES)), np.float32) if blendshapes else None,
            transformation_matrices=np.zeros((0, 4, 4), np.float32) if matrices else None,
            mesh_vertices=np.zeros((0, 468, 3), np.float32) if matrices else None,
            timestamp_ms=timestamp_ms,
        )

    def head_pose(self) -> HeadPose:
        """Yaw/pitch/roll (degrees) and translation (cm) of every face; needs the matrices."""
        if self.transformation_matrices is None:
            raise ValueError("head pose needs output_facial_transformation_matrixes=True")
        return head_pose(self.transformation_matrices)

    def blendshape_scores(self, face: int = 0) -> dict[str, float]:
        """{name: score} of one face, model order."""
        if self.blendshapes is None:
            raise ValueError("blendshapes were not requested (output_face_blendshapes=False)")
        return dict(zip(BLENDSHAPE_NAMES, (float(v) for v in self.blendshapes[face])))

    def to_dict(self, *, decimals: int | None = 6) -> dict[str, Any]:
        """JSON-ready dict: per face landmarks, presence, roi and the requested outputs."""

        def r(a: np.ndarray) -> Any:
            return (np.round(a.astype(np.float64), decimals) if decimals is not None else a).tolist()

        pose = self.head_pose() if self.transformation_matrices is not None else None
        faces = []
        for i in range(len(self)):
            face: dict[str, Any] = {"landmarks": r(self.landmarks[i]), "presence": float(self.presence[i]),
                                    "roi": r(self.rois[i])}
            if self.blendshapes is not None:
                face["blendshapes"] = dict(zip(BLENDSHAPE_NAMES, r(self.blendshapes[i])))
            if self.transformation_matrices is not None and pose is not None:
                face["transformation_matrix"] = r(self.transformation_matrices[i])
                face["head_pose"] = {"yaw_deg": float(pose.yaw[i]), "pitch_deg": float(pose.pitch[i]),
                                     "roll_deg": float(pose.roll[i]),
                                     "translation_cm": r(pose.translation_cm[i])}
            faces.append(face)
        out: dict[str, Any] = {"image_size": list(self.image_size), "faces": faces}
        if self.timestamp_ms is not None:
            out["timestamp_ms"] = self.timestamp_ms
        return out


class FaceLandmarker:
    """MediaPipe Tasks FaceLandmarker on the official models; one instance per stream (it holds tracking state).

    IMAGE mode: `detect(image)`. VIDEO: `detect_for_video(image, timestamp_ms)` with increasing timestamps.
    LIVE_STREAM: `detect_async(image, timestamp_ms)`; results go to `options.result_callback`.
    Images are RGB uint8 (H, W, 3). Use as a context manager, or call `close()` (stops the live worker).
    Thread-safe: calls are serialized.
    """

    def __init__(
        self,
        options: FaceLandmarkerOptions | None = None,
        *,
        landmarks_model_path: str | os.PathLike[str] | None = None,
        blendshapes_model_path: str | os.PathLike[str] | None = None,
        detector_model_path: str | os.PathLike[str] | None = None,
        geometry: FaceGeometryEstimator | None = None,
        blendshape_model: Callable[[np.ndarray, tuple[int, int]], np.ndarray] | None = None,
    ) -> None:
        """blendshape_model: replaces the Tasks blendshape model when blendshapes are requested: f((N,478,3)
        landmarks, (W,H)) -> (N,52) scores in BLENDSHAPE_NAMES order, e.g. a trained
        BlendshapeRegressor's `tasks_order`."""
        self.options = options or FaceLandmarkerOptions()
        o = self.options
        runtime = fold_legacy_options("FaceLandmarker", o.runtime, _stacklevel=3,
                                      face_landmarks_detector=landmarks_model_path,
                                      face_blendshapes=blendshapes_model_path,
                                      blaze_face_short_range=detector_model_path)
        self._detector = FaceDetector(
            FaceDetectorOptions(model="short_tasks", min_score=o.min_face_detection_confidence, runtime=runtime)
        )
        self._landmarks_model = runtime.load("face_landmarks_detector")
        # Optional outputs cost nothing when off: their models are never loaded.
        self._blendshapes = None
        if o.output_face_blendshapes:
            self._blendshapes = blendshape_model or BlendshapeModel(runtime=runtime)
        self._geometry = geometry or (FaceGeometryEstimator() if o.output_facial_transformation_matrixes else None)
        self._lock = threading.RLock()  # serializes frames (tracking state, interpreters)
        self._ts_lock = threading.Lock()  # timestamps only, so detect_async never waits for a frame
        self._prev_rects = np.zeros((0, 5), np.float32)
        self._smoother = (
            LandmarksSmoother(_SMOOTH_MIN_CUTOFF, _SMOOTH_BETA, _SMOOTH_DERIVATE_CUTOFF) if o.smoothing else None
        )
        self._last_timestamp_ms: int | None = None
        self._live = _LiveStreamWorker(self, o.result_callback) if o.running_mode is RunningMode.LIVE_STREAM else None

    # ------------------------------------------------------------------ public API

    def detect(self, image: np.ndarray) -> FaceLandmarkerResult:
        """Faces in one image (IMAGE mode): detector on every call, no tracking, no smoothing."""
        self._require(RunningMode.IMAGE, "detect")
        with self._lock:
            return self._process(image, None)

    def detect_for_video(self, image: np.ndarray, timestamp_ms: int) -> FaceLandmarkerResult:
        """Faces in one video frame (VIDEO mode); timestamps (ms) must increase from call to call."""
        self._require(RunningMode.VIDEO, "detect_for_video")
        with self._lock:
            self._check_timestamp(timestamp_ms)
            return self._process(image, int(timestamp_ms))

    def detect_async(self, image: np.ndarray, timestamp_ms: int) -> None:
        """Queue a frame (LIVE_STREAM mode). Returns at once; the image is copied. A frame still waiting when the
        next one arrives is dropped, so a slow consumer never builds a backlog."""
        self._require(RunningMode.LIVE_STREAM, "detect_async")
        image = check_rgb_image(image)
        live = self._live
        if live is None:  # pragma: no cover - the running mode guarantees a worker
            raise RuntimeError("live-stream worker missing")
        self._check_timestamp(timestamp_ms)
        live.submit(np.array(image, copy=True), int(timestamp_ms))

    @property
    def dropped_frames(self) -> int:
        """LIVE_STREAM: frames dropped because a newer one arrived before they were processed."""
        return self._live.dropped if self._live is not None else 0

    def reset(self) -> None:
        """Forget tracked faces and smoothing state (e.g. at a scene cut)."""
        with self._lock:
            self._prev_rects = np.zeros((0, 5), np.float32)
            if self._smoother is not None:
                self._smoother.reset()
            with self._ts_lock:
                self._last_timestamp_ms = None

    def close(self) -> None:
        """Process any waiting live frame, stop the worker and re-raise its error, if any."""
        if self._live is not None:
            self._live.close()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _require(self, mode: RunningMode, method: str) -> None:
        if self.options.running_mode is not mode:
            raise ValueError(
                f"{method}() needs running_mode={mode.value!r}; this FaceLandmarker was created with "
                f"{self.options.running_mode.value!r}"
            )

    def _check_timestamp(self, timestamp_ms: int) -> None:
        ts = int(timestamp_ms)
        with self._ts_lock:
            if self._last_timestamp_ms is not None and ts <= self._last_timestamp_ms:
                raise ValueError(
                    f"timestamps must increase monotonically: got {ts} ms after {self._last_timestamp_ms} ms"
                )
            self._last_timestamp_ms = ts

    def _detection_rects(self, image: np.ndarray) -> np.ndarray:
        # Normalized detections, as the Tasks graph passes them on (pixels and back is not always
        # the same float32 number).
        dets = self._detector.detect_normalized(image).take(slice(0, self.options.num_faces))
        if len(dets) == 0:
            return np.zeros((0, 5), np.float32)
        w, h = image.shape[1], image.shape[0]
        rects = rects_from_detections(dets, (w, h), start=0, end=1, target_deg=0.0)
        return transform_rects(rects, (w, h), scale_x=_DETECTION_ROI_SCALE, scale_y=_DETECTION_ROI_SCALE,
                               square_long=False)

    def _process(self, image: np.ndarray, timestamp_ms: int | None) -> FaceLandmarkerResult:
        image = check_rgb_image(image)
        size = (image.shape[1], image.shape[0])
        o = self.options
        tracking = timestamp_ms is not None
        if tracking:
            prev = self._prev_rects
            det = self._detection_rects(image) if len(prev) < o.num_faces else np.zeros((0, 5), np.float32)
            # Tasks feeds the tracked rects first, detections second: a detection overlapping a tracked face wins.
            rects = associate_rects(prev, det, o.min_tracking_confidence)[: o.num_faces]
        else:
            rects = self._detection_rects(image)

        landmarks, presence, rois = self._landmarks(image, rects, size)
        if tracking:
            self._prev_rects = self._next_rects(landmarks, size)
        if self._smoother is not None:
            if len(landmarks):
                landmarks = landmarks.copy()
                landmarks[0] = self._smoother(landmarks[0], timestamp_ms / 1000.0, size)
            else:
                self._smoother.reset()
        return self._outputs(landmarks, presence, rois, size, timestamp_ms)

    def _landmarks(self, image: np.ndarray, rects: np.ndarray, size: tuple[int, int]):
        if len(rects) == 0:
            return (np.zeros((0, NUM_LANDMARKS, 3), np.float32), np.zeros(0, np.float32),
                    np.zeros((0, 5), np.float32))
        n = len(rects)
        geos = [crop_geometry(size, r, _INPUT_SIZE, _INPUT_SIZE) for r in rects]

        def fill(ins: list[np.ndarray]) -> None:
            # Crops go straight into the interpreter's input (no batch array, no input copy).
            for k, g in enumerate(geos):
                warp_to_tensor(image, g.warp, ins[0][k], border=BORDER_REPLICATE, value_range=(0.0, 1.0))

        def read(outs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
            raw, logits = outs[:2]
            return raw.reshape(n, NUM_LANDMARKS, 3).copy(), logits.reshape(-1).astype(np.float32)

        raw, logits = self._landmarks_model.run_filled(n, fill, read)
        presence = sigmoidf(logits)
        keep = np.flatnonzero(presence > self.options.min_face_presence_confidence)
        pts = raw[keep] / np.float32(_INPUT_SIZE)
        # Per-face ROI matrices (MediaPipe's LandmarkProjection with IMAGE_DIMENSIONS uses the same matrix).
        m = np.stack([geos[i].matrix for i in keep]) if len(keep) else np.zeros((0, 4, 4))
        m = m[:, None]  # broadcast over the landmarks
        x, y = pts[..., 0], pts[..., 1]
        out = np.empty_like(pts)
        out[..., 0] = m[..., 0, 0] * x + m[..., 0, 1] * y + m[..., 0, 3]
        out[..., 1] = m[..., 1, 0] * x + m[..., 1, 1] * y + m[..., 1, 3]
        # z follows x's scale: the image-normalized length of the crop's projected unit x vector.
        out[..., 2] = pts[..., 2] * matrix_z_scale(m)
        return out, presence[keep].astype(np.float32), rects[keep]

    @staticmethod
    def _next_rects(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if len(landmarks) == 0:
            return np.zeros((0, 5), np.float32)
        rects = rects_from_landmarks(landmarks, size, start=_ROI_ROTATION_FROM, end=_ROI_ROTATION_TO, target_deg=0.0)
        return transform_rects(rects, size, scale_x=_TRACKING_ROI_SCALE, scale_y=_TRACKING_ROI_SCALE,
                               square_long=True)

    def _outputs(self, landmarks, presence, rois, size, timestamp_ms) -> FaceLandmarkerResult:
        blendshapes = matrices = mesh = None
        if self._blendshapes is not None:
            blendshapes = self._blendshapes(landmarks, size)
        if self._geometry is not None and self.options.output_facial_transformation_matrixes:
            geo = self._geometry.estimate(landmarks, size)
            matrices, mesh = geo.matrices, geo.mesh_vertices
        return FaceLandmarkerResult(landmarks, presence, rois, size, blendshapes=blendshapes,
                                    transformation_matrices=matrices, mesh_vertices=mesh,
                                    timestamp_ms=timestamp_ms)


class _LiveStreamWorker:
    """One worker thread, one waiting slot: newer frames replace a waiting one (which is dropped)."""

    def __init__(self, landmarker: FaceLandmarker, callback: ResultCallback | None) -> None:
        if callback is None:  # pragma: no cover - options validation prevents it
            raise ValueError("LIVE_STREAM mode needs a result_callback")
        self._landmarker = landmarker
        self._callback = callback
        self._cond = threading.Condition()
        self._waiting: tuple[np.ndarray, int] | None = None
        self._closed = False
        self._error: BaseException | None = None
        self.dropped = 0
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name="facepipe-face-landmarker-live", daemon=True)
        self._thread.start()

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise RuntimeError(f"live-stream processing failed: {err}") from err

    def submit(self, image: np.ndarray, timestamp_ms: int) -> None:
        with self._cond:
            self._raise_pending_error()
            if self._closed:
                raise RuntimeError("this FaceLandmarker is closed")
            if self._waiting is not None:
                self.dropped += 1
            self._waiting = (image, timestamp_ms)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._waiting is None and not self._closed:
                    self._cond.wait()
                if self._waiting is None:
                    return
                image, ts = self._waiting
                self._waiting = None
            try:
                with self._landmarker._lock:
                    result = self._landmarker._process(image, ts)
                self._callback(result, image, ts)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                log.error("face landmarker live stream: frame at %d ms failed: %s", ts, exc)
                with self._cond:
                    self._error = exc
            finally:
                with self._cond:
                    self.processed += 1

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()
        with self._cond:
            self._raise_pending_error()
