"""Finding the faces to recognise, with the five points an embedder aligns by.

BlazeFace's two published models are complementary on photos: the short-range
model finds faces that fill the frame (the full-range one missed 1 of the 30
shared identity photos), the full-range model finds small and distant ones. Both
run on the whole image and their boxes are merged (hard NMS); the 468-point
Face Mesh is then read in each detection's ROI, which both drops boxes that are
not faces (low mesh presence) and gives the eye, nose and mouth points the
embedder's similarity alignment needs (`five_point_landmarks`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from facepipe.results import Detections, _Indexable, as_f32
from facepipe.runtime.options import RuntimeOptions

__all__ = ["FaceSpotter", "SpotterOptions", "SpottedFaces"]


@dataclass(frozen=True)
class SpotterOptions:
    """models: BlazeFace models run on the whole image ("short", "full"); boxes merged.
    min_detection_confidence: detector score threshold.
    min_presence: Face Mesh presence below which a detection is dropped. Off by default: faces
        half hidden by a hand or seen from the side score low (Obama in the hamilton clip's
        audience: 0.04-0.5) and are still recognisable, while a false detection costs only an
        "unknown" box. Enrollment is stricter (ENROLL_MIN_PRESENCE). Faces of the shared identity
        photos score >= 0.96; a building BlazeFace took for a face, 0.76.
    min_face: faces narrower than this many pixels are dropped (too small to recognise:
        dlib's chips are 150 px; below ~30 px identity is mostly guesswork).
    max_num_faces: most faces kept per image, largest first (None: all).
    nms_iou: boxes of the two models overlapping more than this are one face.
    runtime: threads, model files, delegate (`RuntimeOptions`) for the detector and mesh models.
    """

    models: tuple[str, ...] = ("short", "full")
    min_detection_confidence: float = 0.5
    min_presence: float = 0.0
    min_face: float = 24.0
    max_num_faces: int | None = None
    nms_iou: float = 0.3
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("models must name at least one face detector model")
        for name in ("min_detection_confidence", "min_presence", "nms_iou"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.min_face < 0:
            raise ValueError(f"min_face must be >= 0 pixels, got {self.min_face}")
        if self.max_num_faces is not None and self.max_num_faces < 1:
            raise ValueError(f"max_num_faces must be >= 1, got {self.max_num_faces}")


@dataclass(frozen=True, eq=False)
class SpottedFaces(_Indexable):
    """N faces of one image: xyxy (N,4) pixel boxes, scores (N,) detection scores, presence (N,)
    Face Mesh presence (how face-like the landmark model finds the box), points5 (N,5,2) pixel
    alignment points (embedder convention, `five_point_landmarks`), image_size (width, height)."""

    xyxy: np.ndarray
    scores: np.ndarray
    presence: np.ndarray
    points5: np.ndarray
    image_size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "xyxy", as_f32(self.xyxy, (4,)))
        object.__setattr__(self, "scores", as_f32(self.scores, ()).reshape(-1))
        object.__setattr__(self, "presence", as_f32(self.presence, ()).reshape(-1))
        object.__setattr__(self, "points5", as_f32(self.points5, (5, 2)))
        n = len(self.xyxy)
        if len(self.scores) != n or len(self.presence) != n or len(self.points5) != n:
            raise ValueError("SpottedFaces fields disagree on N")

    @classmethod
    def empty(cls, image_size: tuple[int, int] = (0, 0)) -> SpottedFaces:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), np.zeros((0, 5, 2)), image_size)

    @property
    def widths(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]


class FaceSpotter:
    """Faces and alignment points in RGB images. Thread-safe (one call at a time per instance)."""

    def __init__(self, options: SpotterOptions | None = None) -> None:
        from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions
        from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

        self.options = o = options or SpotterOptions()
        self._detectors = [FaceDetector(FaceDetectorOptions(model=m, min_score=o.min_detection_confidence,
                                                            runtime=o.runtime)) for m in o.models]
        # Only its landmark model is used (in the detections' ROIs); presence filters non-faces.
        self._mesh = FaceMesh(FaceMeshOptions(static_image_mode=True, min_tracking_confidence=o.min_presence,
                                              runtime=o.runtime))
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> Detections:
        """Merged BlazeFace detections (before the mesh check)."""
        # Of overlapping boxes of the two models the higher-scoring one stays (hard NMS).
        dets = Detections.merge([d.detect(image) for d in self._detectors]).with_nms(self.options.nms_iou,
                                                                                     weighted=False)
        return dets[dets.wh[:, 0] >= self.options.min_face]

    def spot(self, image: np.ndarray) -> SpottedFaces:
        """The faces of `image`, largest first."""
        from facepipe.solutions.face_embedder import five_point_landmarks
        from facepipe.solutions.face_mesh import detection_rois

        size = (image.shape[1], image.shape[0])
        with self._lock:
            dets = self.detect(image)
            if len(dets) == 0:
                return SpottedFaces.empty(size)
            meshes, presence, kept = self._mesh.landmarks_in_rois(image, detection_rois(dets))
        dets, presence = dets[kept], presence[kept]
        if len(dets) == 0:
            return SpottedFaces.empty(size)
        pixels = meshes * np.array([size[0], size[1], size[0]], np.float32)
        faces = SpottedFaces(dets.xyxy, dets.scores, presence, five_point_landmarks(pixels), size)
        order = np.argsort(-faces.widths, kind="stable")
        if self.options.max_num_faces is not None:
            order = order[: self.options.max_num_faces]
        return faces[order]
