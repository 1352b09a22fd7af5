"""Face geometry: the facial transformation matrix, the metric 3D face mesh and head pose.

Re-implements MediaPipe's face-geometry pipeline (the Tasks FaceLandmarker's
`facial_transformation_matrixes`) on top of the canonical face model read from
``geometry_pipeline_metadata_landmarks.binarypb`` (a member of
face_landmarker.task, parsed without the protobuf package):

1. screen landmarks (first 468 of 478) are placed on the near plane of a
   perspective camera (vertical FOV 63 deg, near 1 cm, origin top-left);
2. two weighted-Procrustes passes against the canonical model estimate the
   face's scale, which fixes its depth; the landmarks are unprojected into
   metric camera space (cm, camera at the origin looking down -Z, +Y up);
3. a last Procrustes fit canonical -> metric gives the pose matrix M, which maps
   canonical-model points (cm) into camera space: p_cam = M @ [p, 1].

The mesh MediaPipe reports is M^-1 applied to the metric landmarks: the
runtime face expressed in the canonical model's frame (cm), with the canonical
UVs and triangles.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepipe.errors import ModelError
from facepipe.runtime.protowire import (
    ProtoDecodeError,
    parse_message,
    repeated_floats,
    repeated_varints,
    single_float,
    single_varint,
)
from facepipe.stages.procrustes import WeightedProcrustes

__all__ = [
    "Environment",
    "GeometryMetadata",
    "FaceGeometry",
    "FaceGeometryEstimator",
    "HeadPose",
    "head_pose",
    "load_geometry_metadata",
    "NUM_MESH_LANDMARKS",
]

NUM_MESH_LANDMARKS = 468
# Mesh3d.vertex_type VERTEX_PT: x, y, z, u, v per vertex.
_VERTEX_PT_SIZE = 5
# InputSource enum of geometry_pipeline_metadata.proto.
_FACE_LANDMARK_PIPELINE = (0, 1)  # DEFAULT means FACE_LANDMARK_PIPELINE
# Faces whose landmarks all lie within this normalized radius of their mean are skipped (as MediaPipe does).
_MIN_SPREAD = 1e-3


@dataclass(frozen=True)
class Environment:
    """Virtual camera of the geometry pipeline (MediaPipe's Environment proto).

    origin_top_left: True for image arrays (row 0 at the top), as the Tasks FaceLandmarker uses;
        False for OpenGL-style bottom-left origin.
    vertical_fov_degrees / near / far: perspective camera, near/far in cm.
    """

    origin_top_left: bool = True
    vertical_fov_degrees: float = 63.0
    near: float = 1.0
    far: float = 10000.0

    def __post_init__(self) -> None:
        if not 0.0 < self.vertical_fov_degrees < 180.0:
            raise ValueError(f"vertical_fov_degrees must be in (0, 180), got {self.vertical_fov_degrees}")
        if not 0.0 < self.near < self.far:
            raise ValueError(f"need 0 < near < far, got near={self.near}, far={self.far}")

    def near_plane(self, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) of the frustum at the near plane for a W x H frame."""
        w, h = image_size
        height = 2.0 * self.near * math.tan(0.5 * math.radians(self.vertical_fov_degrees))
        width = w * height / h
        return -0.5 * width, 0.5 * width, -0.5 * height, 0.5 * height

    def projection_matrix(self, image_size: tuple[int, int]) -> np.ndarray:
        """(4,4) row-major OpenGL perspective projection for rendering with the pose matrix."""
        w, h = image_size
        f = 1.0 / math.tan(0.5 * math.radians(self.vertical_fov_degrees))
        n, far = self.near, self.far
        p = np.zeros((4, 4), np.float32)
        p[0, 0] = f * h / w
        p[1, 1] = f
        p[2, 2] = (n + far) / (n - far)
        p[2, 3] = 2.0 * far * n / (n - far)
        p[3, 2] = -1.0
        return p


@dataclass(frozen=True)
class GeometryMetadata:
    """The canonical face model and Procrustes weights of a geometry pipeline.

    vertices: (468,3) float32 canonical positions in cm (+X toward the face's left eye, +Y up, +Z out of the face).
    uvs: (468,2) float32 texture coordinates.
    triangles: (T,3) int32 vertex indices (898 triangles for the landmark model).
    weights: (468,) float32 Procrustes weight of every landmark (33 non-zero).
    """

    vertices: np.ndarray
    uvs: np.ndarray
    triangles: np.ndarray
    weights: np.ndarray
    input_source: int = 1

    @property
    def num_weighted(self) -> int:
        return int(np.count_nonzero(self.weights))


def load_geometry_metadata(source: str | os.PathLike[str] | bytes | None = None) -> GeometryMetadata:
    """Parse a GeometryPipelineMetadata binary proto (path or bytes; None: the registered model)."""
    if source is None:
        from facepipe.runtime.store import resolve_model

        source = resolve_model("geometry_pipeline_metadata_landmarks")
    if isinstance(source, bytes):
        data, name = source, "<bytes>"
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"{path}: cannot read face geometry metadata ({exc.strerror or exc})") from exc
        name = str(path)
    try:
        return _parse_metadata(data)
    except ProtoDecodeError as exc:
        raise ModelError(f"{name}: not a valid geometry pipeline metadata proto ({exc})") from exc


def _parse_metadata(data: bytes) -> GeometryMetadata:
    # GeometryPipelineMetadata: 1 canonical_mesh (Mesh3d), 2 procrustes_landmark_basis (repeated), 3 input_source.
    top = parse_message(data)
    meshes = top.get(1)
    if not meshes:
        raise ProtoDecodeError("no canonical_mesh")
    # Embedded messages given more than once are merged by concatenation, so parse the joined payloads.
    mesh = parse_message(b"".join(bytes(m.value) for m in meshes if isinstance(m.value, bytes)))
    # Mesh3d: 1 vertex_type, 2 primitive_type, 3 vertex_buffer (float), 4 index_buffer (uint32).
    if single_varint(mesh.get(1), 0) != 0 or single_varint(mesh.get(2), 0) != 0:
        raise ProtoDecodeError("only VERTEX_PT vertices and TRIANGLE primitives are supported")
    vb = repeated_floats(mesh.get(3, []))
    ib = repeated_varints(mesh.get(4, []))
    if vb.size == 0 or vb.size % _VERTEX_PT_SIZE or ib.size % 3:
        raise ProtoDecodeError(f"vertex buffer of {vb.size} floats / index buffer of {ib.size} indices")
    verts = vb.reshape(-1, _VERTEX_PT_SIZE)
    n = len(verts)
    if ib.size and (ib.min() < 0 or ib.max() >= n):
        raise ProtoDecodeError("index buffer refers to a vertex that does not exist")
    weights = np.zeros(n, np.float32)
    for ref in top.get(2, []):
        if not isinstance(ref.value, bytes):
            raise ProtoDecodeError("procrustes_landmark_basis entry is not a message")
        fields = parse_message(ref.value)  # WeightedLandmarkRef: 1 landmark_id, 2 weight
        lid = single_varint(fields.get(1), 0)
        if lid >= n:
            raise ProtoDecodeError(f"Procrustes landmark id {lid} is out of range for {n} vertices")
        weights[lid] = single_float(fields.get(2), 0.0)
    if not np.all(weights >= 0) or float(weights.sum()) <= 1e-9:
        raise ProtoDecodeError("Procrustes weights must be non-negative and not all zero")
    source = single_varint(top.get(3), 0)
    return GeometryMetadata(
        vertices=np.ascontiguousarray(verts[:, :3]),
        uvs=np.ascontiguousarray(verts[:, 3:5]),
        triangles=ib.reshape(-1, 3).astype(np.int32),
        weights=weights,
        input_source=source,
    )


@dataclass(frozen=True, eq=False)
class FaceGeometry:
    """Geometry of N faces.

    matrices: (N,4,4) float32 row-major pose: canonical model (cm) -> camera space (cm); NaN if the face was
        skipped (landmarks too compact to fit, as MediaPipe skips them).
    mesh_vertices: (N,468,3) float32 metric mesh in the canonical frame (MediaPipe's FaceGeometry.mesh).
    """

    matrices: np.ndarray
    mesh_vertices: np.ndarray

    def __len__(self) -> int:
        return len(self.matrices)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.matrices).all(axis=(1, 2))

    def camera_space_vertices(self) -> np.ndarray:
        """(N,468,3) metric landmarks in camera space (cm): M applied to the mesh."""
        m = self.matrices.astype(np.float64)
        v = self.mesh_vertices.astype(np.float64)
        return (np.einsum("nij,npj->npi", m[:, :3, :3], v) + m[:, None, :3, 3]).astype(np.float32)


class FaceGeometryEstimator:
    """Screen landmarks -> facial transformation matrices and metric meshes; stateless and thread-safe."""

    def __init__(self, metadata: GeometryMetadata | None = None, environment: Environment | None = None) -> None:
        self.metadata = metadata if metadata is not None else load_geometry_metadata()
        if self.metadata.input_source not in _FACE_LANDMARK_PIPELINE:
            raise ModelError("face geometry metadata is for the face-detection pipeline; the landmark one is needed")
        if len(self.metadata.vertices) != NUM_MESH_LANDMARKS:
            raise ModelError(f"canonical mesh has {len(self.metadata.vertices)} vertices, expected 468")
        self.environment = environment or Environment()
        self._canon = self.metadata.vertices.astype(np.float64)
        self._weights = self.metadata.weights.astype(np.float64)
        # The canonical side of the three fits per frame is computed once.
        self._procrustes = WeightedProcrustes(self._canon, self._weights)

    def estimate(self, landmarks: np.ndarray, image_size: tuple[int, int]) -> FaceGeometry:
        """Geometry for (N,P,3) normalized landmarks (P >= 468; only the first 468 are used)."""
        lm = np.asarray(landmarks, np.float64)
        if lm.ndim != 3 or lm.shape[1] < NUM_MESH_LANDMARKS or lm.shape[2] != 3:
            raise ValueError(f"expected (N, >=468, 3) landmarks, got {lm.shape}")
        w, h = image_size
        if w <= 0 or h <= 0:
            raise ValueError(f"image size must be positive, got {image_size}")
        n = len(lm)
        matrices = np.full((n, 4, 4), np.nan, np.float64)
        mesh = np.full((n, NUM_MESH_LANDMARKS, 3), np.nan, np.float64)
        if n == 0:
            return FaceGeometry(matrices.astype(np.float32), mesh.astype(np.float32))
        screen = lm[:, :NUM_MESH_LANDMARKS].copy()
        xy = screen[..., :2]
        spread = np.sqrt(((xy - xy.mean(1, keepdims=True)) ** 2).sum(-1).max(1))
        ok = spread > _MIN_SPREAD
        if ok.any():
            m, metric = self._solve(screen[ok], (w, h))
            matrices[ok] = m
            inv = np.linalg.inv(np.where(np.isfinite(m), m, np.eye(4)))
            mesh[ok] = np.einsum("nij,npj->npi", inv[:, :3, :3], metric) + inv[:, None, :3, 3]
            mesh[ok & ~np.isfinite(matrices).all(axis=(1, 2))] = np.nan
        return FaceGeometry(matrices.astype(np.float32), mesh.astype(np.float32))

    def _solve(self, screen: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        env = self.environment
        left, right, bottom, top = env.near_plane(image_size)
        pts = screen
        if env.origin_top_left:
            pts[..., 1] = 1.0 - pts[..., 1]
        # Project onto the near plane; z scales like x.
        pts *= np.array([right - left, top - bottom, right - left])
        pts[..., 0] += left
        pts[..., 1] += bottom
        depth_offset = pts[..., 2].mean(1, keepdims=True)

        def flip_z(p: np.ndarray) -> np.ndarray:
            q = p.copy()
            q[..., 2] *= -1.0
            return q

        def unproject(p: np.ndarray, scale: np.ndarray) -> np.ndarray:
            q = p.copy()
            q[..., 2] = (q[..., 2] - depth_offset + env.near) / scale[:, None]
            q[..., 0] *= q[..., 2] / env.near
            q[..., 1] *= q[..., 2] / env.near
            q[..., 2] *= -1.0  # to the right-handed camera frame
            return q

        # Only the Procrustes-weighted points (33 of 468) enter the fits; every step is per
        # point, so transforming just those for the two scale passes gives the same numbers.
        fit, sel = self._procrustes.fit_selected, self._procrustes.selected
        sub = pts[:, sel]
        s1 = np.linalg.norm(fit(flip_z(sub))[:, :3, 0], axis=1)
        s2 = np.linalg.norm(fit(unproject(sub, s1))[:, :3, 0], axis=1)
        metric = unproject(pts, s1 * s2)
        return fit(metric[:, sel]), metric


@dataclass(frozen=True, eq=False)
class HeadPose:
    """Head orientation and position from facial transformation matrices (camera frame: +X image right, +Y up,
    camera looking down -Z).

    yaw: (N,) degrees, > 0 when the face turns toward the image's right side (for a non-mirrored photo, the
        subject turns to their own left); mirroring the image flips its sign.
    pitch: (N,) degrees, > 0 when the face tilts up (chin up).
    roll: (N,) degrees, > 0 when the head tilts counter-clockwise as seen in the image.
    translation_cm: (N,3) position of the canonical face origin in camera space, cm (z < 0: in front).
    scale: (N,) uniform scale of the fit (about 1 for the metric pipeline).
    The rotation is decomposed as R = Ry(yaw) Rx(-pitch) Rz(roll).
    """

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    translation_cm: np.ndarray
    scale: np.ndarray

    @property
    def distance_cm(self) -> np.ndarray:
        return np.linalg.norm(self.translation_cm, axis=-1)


def head_pose(matrices: np.ndarray) -> HeadPose:
    """Yaw/pitch/roll (degrees) and translation (cm) of (N,4,4) or (4,4) transformation matrices."""
    m = np.asarray(matrices, np.float64)
    if m.shape[-2:] != (4, 4):
        raise ValueError(f"expected (...,4,4) matrices, got {m.shape}")
    m = m.reshape(-1, 4, 4)
    sr = m[:, :3, :3]
    scale = np.linalg.norm(sr[:, :, 0], axis=1)
    r = sr / np.where(scale > 0, scale, np.nan)[:, None, None]
    # For R = Ry(a) Rx(b) Rz(c): R[1,2] = -sin b, R[0,2]/R[2,2] = tan a, R[1,0]/R[1,1] = tan c.
    b = np.arcsin(np.clip(-r[:, 1, 2], -1.0, 1.0))
    a = np.arctan2(r[:, 0, 2], r[:, 2, 2])
    c = np.arctan2(r[:, 1, 0], r[:, 1, 1])
    f32 = np.float32
    return HeadPose(
        yaw=np.degrees(a).astype(f32),
        pitch=np.degrees(-b).astype(f32),
        roll=np.degrees(c).astype(f32),
        translation_cm=m[:, :3, 3].astype(f32),
        scale=scale.astype(f32),
    )
