"""Expression descriptors: one vector per face, close for faces that make the same expression.

The default, ``expression-geometry-v3`` (`ExpressionDescriptor`), starts from the face's metric mesh in
the canonical face frame (the Tasks FaceLandmarker's facial transformation matrix undone, so head pose is
gone; see solutions/face_geometry.py) and measures 11 pose-free, scale-free quantities that muscles change:
the opening of each eye, the height of each brow above its eye, the gap between the brows, the width and
opening of the mouth, the height of each mouth corner, the nose-to-lip and lip-to-chin distances (all over
the inter-ocular distance), and three left/right asymmetries (a wink, a half smile, one brow up). The
canonical neutral face's values are subtracted, so a generic neutral face is the origin, and distances are
in units of the inter-ocular distance (`GeometryDescriptor`, v2, is exactly these 14 values).

v3 makes them mirror-symmetric: a face and its mirror image get one vector, and a wink is a wink whichever
eye closes (symmetry.py). Nothing is learned: every linear map fitted on the tuning split of other people
(within-label whitening, LDA, with or without blendshapes) did worse on the test photos than no map
(docs/expression-search.md, benchmarks/bench_search.py). `fit_metric` stays for those comparisons, and
``GeometryDescriptor(metric=W)`` applies a map to the v2 features.

``blendshapes`` (the 52 Tasks scores) and ``landmarks`` (2-D landmarks centred and scaled by the
inter-ocular distance) are the baselines. `OnnxDescriptor` runs a user-supplied ONNX embedding model
(pinned by sha256) on face crops.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from facepipe.apps.expression_search.symmetry import GEOMETRY_FEATURES, symmetric_geometry
from facepipe.errors import InputError, ModelError
from facepipe.solutions.face_geometry import load_geometry_metadata

log = logging.getLogger(__name__)

__all__ = [
    "Descriptor",
    "ExpressionDescriptor",
    "GeometryDescriptor",
    "BlendshapeDescriptor",
    "LandmarkDescriptor",
    "OnnxDescriptor",
    "DESCRIPTORS",
    "DescriptorSpec",
    "make_descriptor",
    "geometry_features",
    "fit_metric",
    "GEOMETRY_FEATURES",
]

# Mesh indices (MediaPipe's 468-point topology). Right/left are the subject's.
_R_EYE_CORNERS, _L_EYE_CORNERS = (33, 133), (263, 362)
_R_LID_PAIRS = ((159, 145), (158, 153), (160, 144))  # upper, lower lid
_L_LID_PAIRS = ((386, 374), (385, 380), (387, 373))
_R_BROW, _L_BROW = (70, 63, 105, 66, 107), (300, 293, 334, 296, 336)
_INNER_BROWS = (107, 336)
_MOUTH_CORNERS = (61, 291)
_INNER_LIPS = (13, 14)  # upper, lower
_SUBNASALE, _UPPER_LIP, _LOWER_LIP, _CHIN = 2, 0, 17, 152


class Descriptor(Protocol):
    """What the index and the graph need from an embedding: a stable id, a size, and vectors."""

    id: str
    dim: int

    def describe(self, image: np.ndarray, faces: Any) -> np.ndarray:
        """(N, dim) float32 vectors for the N faces of a FaceLandmarkerResult (NaN rows: no vector)."""
        ...


def geometry_features(mesh: np.ndarray) -> np.ndarray:
    """(N,468,3) metric canonical-frame meshes -> (N,14) features in GEOMETRY_FEATURES order."""
    v = np.asarray(mesh, np.float64)
    if v.ndim != 3 or v.shape[1] < 468 or v.shape[2] != 3:
        raise ValueError(f"expected (N,468,3) meshes, got {v.shape}")
    y = v[..., 1]

    def dist(a: Any, b: Any) -> np.ndarray:
        return np.linalg.norm(v[:, a] - v[:, b], axis=-1)

    r_eye = v[:, list(_R_EYE_CORNERS)].mean(1)
    l_eye = v[:, list(_L_EYE_CORNERS)].mean(1)
    iod = np.linalg.norm(r_eye - l_eye, axis=-1)

    def eye_open(pairs: tuple[tuple[int, int], ...], corners: tuple[int, int]) -> np.ndarray:
        up, low = zip(*pairs)
        return dist(list(up), list(low)).mean(1) / dist(*corners)

    def brow_height(brow: tuple[int, ...], pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
        upper_lid = [p[0] for p in pairs]
        return (y[:, list(brow)].mean(1) - y[:, upper_lid].mean(1)) / iod

    mouth_mid = y[:, list(_INNER_LIPS)].mean(1)
    f = np.stack([
        eye_open(_R_LID_PAIRS, _R_EYE_CORNERS),
        eye_open(_L_LID_PAIRS, _L_EYE_CORNERS),
        brow_height(_R_BROW, _R_LID_PAIRS),
        brow_height(_L_BROW, _L_LID_PAIRS),
        dist(*_INNER_BROWS) / iod,
        dist(*_MOUTH_CORNERS) / iod,
        dist(*_INNER_LIPS) / iod,
        (y[:, _MOUTH_CORNERS[0]] - mouth_mid) / iod,
        (y[:, _MOUTH_CORNERS[1]] - mouth_mid) / iod,
        (y[:, _SUBNASALE] - y[:, _UPPER_LIP]) / iod,
        (y[:, _LOWER_LIP] - y[:, _CHIN]) / iod,
    ], axis=1)
    asym = np.stack([f[:, 0] - f[:, 1], f[:, 2] - f[:, 3], f[:, 7] - f[:, 8]], axis=1)
    return np.concatenate([f, asym], axis=1)


def fit_metric(features: np.ndarray, labels: np.ndarray, *, reg: float = 0.1) -> np.ndarray:
    """Linear map W (D,D) whitening the within-label scatter of `features`, ridge `reg` x mean variance.

    Distances after x @ W shrink along directions in which faces with the same label differ (people),
    and grow along the others. Labels seen once add nothing to the scatter.
    """
    x = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(labels):
        raise ValueError(f"features {x.shape} and labels {labels.shape} disagree")
    scatter = np.zeros((x.shape[1], x.shape[1]))
    for label in np.unique(labels):
        group = x[labels == label]
        centred = group - group.mean(0)
        scatter += centred.T @ centred
    scatter /= len(x)
    scatter += reg * np.trace(scatter) / len(scatter) * np.eye(len(scatter))
    return np.linalg.cholesky(np.linalg.inv(scatter))


class GeometryDescriptor:
    """v2: the 14 pose-free, scale-free geometry features, relative to the generic neutral (see module doc).

    metric: optional (14,D) map applied last (e.g. from `fit_metric`); the id becomes
    "expression-geometry-custom-<sha256 prefix of the map>", so an index refuses vectors made with
    another map. Needs FaceLandmarkerResult.mesh_vertices (output_facial_transformation_matrixes=True).
    """

    def __init__(self, metric: np.ndarray | None = None) -> None:
        neutral = load_geometry_metadata().vertices[None]
        self._neutral = geometry_features(neutral)[0]
        if metric is None:
            self._metric, self.id = None, "expression-geometry-v2"
            self.dim = len(GEOMETRY_FEATURES)
        else:
            self._metric = np.asarray(metric, np.float64)
            if self._metric.ndim != 2 or self._metric.shape[0] != len(GEOMETRY_FEATURES):
                raise ValueError(f"metric must be ({len(GEOMETRY_FEATURES)}, D), got {self._metric.shape}")
            digest = hashlib.sha256(np.ascontiguousarray(self._metric, "<f8").tobytes()).hexdigest()
            self.id, self.dim = f"expression-geometry-custom-{digest[:16]}", int(self._metric.shape[1])

    def features(self, faces: Any) -> np.ndarray:
        """(N,14) features minus the neutral face's, before any metric; NaN rows where geometry failed."""
        mesh = getattr(faces, "mesh_vertices", None)
        if mesh is None:
            raise ValueError("the geometry descriptor needs output_facial_transformation_matrixes=True")
        return geometry_features(mesh) - self._neutral

    def describe(self, image: np.ndarray, faces: Any) -> np.ndarray:
        x = self.features(faces)
        return (x if self._metric is None else x @ self._metric).astype(np.float32)


class ExpressionDescriptor:
    """v3, the default: the 14 geometry features made mirror-symmetric (symmetry.py).

    Each left/right pair (eye opening, brow height, mouth-corner height) is replaced by its mean in both
    slots and each asymmetry by its magnitude, so a face and its mirror image get the same vector and a wink
    of either eye is a wink. Nothing is learned. Needs FaceLandmarkerResult.mesh_vertices
    (output_facial_transformation_matrixes=True).
    """

    id = "expression-geometry-v3"
    dim = len(GEOMETRY_FEATURES)

    def __init__(self) -> None:
        self._geometry = GeometryDescriptor()

    def describe(self, image: np.ndarray, faces: Any) -> np.ndarray:
        return symmetric_geometry(self._geometry.features(faces)).astype(np.float32)


class BlendshapeDescriptor:
    """Baseline: the 52 Tasks blendshape scores as they come."""

    id = "blendshapes-v1"
    dim = 52

    def describe(self, image: np.ndarray, faces: Any) -> np.ndarray:
        if faces.blendshapes is None:
            raise ValueError("the blendshape descriptor needs output_face_blendshapes=True")
        return np.asarray(faces.blendshapes, np.float32)


class LandmarkDescriptor:
    """Baseline: 468 2-D image landmarks, centred and divided by the inter-ocular distance (no pose removal)."""

    id = "landmarks-v1"
    dim = 468 * 2

    def describe(self, image: np.ndarray, faces: Any) -> np.ndarray:
        w, h = faces.image_size
        xy = np.asarray(faces.landmarks, np.float64)[:, :468, :2] * np.array([w, h], np.float64)
        xy -= xy.mean(1, keepdims=True)
        eyes = xy[:, list(_R_EYE_CORNERS)].mean(1) - xy[:, list(_L_EYE_CORNERS)].mean(1)
        iod = np.maximum(np.linalg.norm(eyes, axis=-1), 1e-6)
        return (xy / iod[:, None, None]).reshape(len(xy), -1).astype(np.float32)


_CROP_SCALE = 1.25  # margin around the landmarks' box, as face embedders are usually trained with


class OnnxDescriptor:
    """A user-supplied ONNX embedding model, refused unless its sha256 matches `sha256`.

    Input contract: one float32 image tensor, NCHW (N,3,H,W) or NHWC (N,H,W,3), RGB in [0,1]: the face's
    landmark box enlarged 1.25x, made square, resized to HxW (112x112 when the model leaves it open).
    The first output, flattened per face, is the embedding (any dimension).
    """

    def __init__(self, path: str | os.PathLike[str], sha256: str, *, num_threads: int | None = None) -> None:
        from facepipe.runtime.hashing import sha256_file
        from facepipe.runtime.model import Model, ModelLoadError

        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: embedding model not found")
        if not sha256 or len(sha256) != 64:
            raise InputError(f"{path}: give the model's sha256 (64 hex digits) to pin it")
        actual = sha256_file(path)
        if actual != sha256.lower():
            raise ModelError(f"{path}: sha256 is {actual}, expected {sha256.lower()}; refusing to use it")
        try:
            self._model = Model(path, num_threads=num_threads)
        except (ModelLoadError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: cannot load the embedding model ({exc})") from exc
        shape = tuple(self._model.inputs[0].shape)
        if len(shape) != 4 or 3 not in (shape[1], shape[3]):
            raise ModelError(f"{path}: expected one (N,3,H,W) or (N,H,W,3) image input, got shape {shape}")
        self._nchw = shape[1] == 3
        self._batch_of_one = shape[0] == 1  # a model exported with a fixed batch runs face by face
        hw = shape[2:4] if self._nchw else shape[1:3]
        self._size = tuple(int(s) if isinstance(s, int) and s > 0 else 112 for s in hw)
        probe = self._model.run(np.zeros((1, *self._input_tail()), np.float32))[0]
        self.dim = int(np.prod(probe.shape[1:]))
        self.id = f"onnx-{actual[:16]}"

    def _input_tail(self) -> tuple[int, ...]:
        h, w = self._size
        return (3, h, w) if self._nchw else (h, w, 3)

    def describe(self, image: np.ndarray, faces: Any) -> np.ndarray:
        boxes = faces.bounding_boxes()
        if len(boxes) == 0:
            return np.zeros((0, self.dim), np.float32)
        crops = np.stack([_square_crop(image, box, self._size) for box in boxes]).astype(np.float32) / 255.0
        if self._nchw:
            crops = crops.transpose(0, 3, 1, 2)
        if self._batch_of_one:
            out = np.concatenate([self._model.run(np.ascontiguousarray(c[None]))[0] for c in crops])
        else:
            out = self._model.run(np.ascontiguousarray(crops))[0]
        return np.asarray(out, np.float32).reshape(len(boxes), -1)


def _square_crop(image: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = max(box[2] - box[0], box[3] - box[1]) * _CROP_SCALE / 2
    h, w = size
    m = np.array([[w / (2 * half), 0, w / 2 - cx * w / (2 * half)],
                  [0, h / (2 * half), h / 2 - cy * h / (2 * half)]], np.float32)
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


DESCRIPTORS = {
    "geometry": ExpressionDescriptor,
    "blendshapes": BlendshapeDescriptor,
    "landmarks": LandmarkDescriptor,
}


@dataclass(frozen=True)
class DescriptorSpec:
    """Which descriptor to use: a built-in name, or an ONNX model file with its sha256."""

    name: str = "geometry"
    onnx: str | None = None
    sha256: str | None = None
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.onnx is None and self.name not in DESCRIPTORS:
            raise ValueError(f"unknown descriptor {self.name!r}; use one of {sorted(DESCRIPTORS)} or an ONNX model")
        if self.onnx is not None and not self.sha256:
            raise ValueError(f"{self.onnx}: an ONNX embedding model needs its sha256 (--model-sha256)")


def make_descriptor(spec: DescriptorSpec | None = None) -> Descriptor:
    spec = spec or DescriptorSpec()
    if spec.onnx is not None:
        return OnnxDescriptor(spec.onnx, spec.sha256 or "", num_threads=spec.num_threads)
    return DESCRIPTORS[spec.name]()  # type: ignore[no-any-return]
