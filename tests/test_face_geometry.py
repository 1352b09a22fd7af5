"""Face geometry: protobuf wire reader, weighted Procrustes, canonical model, matrices vs MediaPipe, head pose."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import model_path
from goldens_util import golden_inputs, load_golden

from facepipe.errors import ModelError
from facepipe.runtime.protowire import (
    ProtoDecodeError,
    iter_fields,
    parse_message,
    repeated_floats,
    repeated_varints,
    single_float,
)
from facepipe.solutions.face_geometry import (
    Environment,
    FaceGeometryEstimator,
    head_pose,
    load_geometry_metadata,
)
from facepipe.stages.procrustes import ProcrustesError, weighted_procrustes

# ----------------------------------------------------------------------------- protowire


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def test_protowire_reads_every_wire_type_and_both_repeated_encodings() -> None:
    floats = [1.5, -2.25, 3.0]
    msg = (
        _key(1, 0) + _varint(300)  # varint
        + _key(2, 5) + struct.pack("<f", floats[0])  # unpacked float ...
        + _key(2, 2) + _varint(8) + struct.pack("<2f", *floats[1:])  # ... then a packed run
        + _key(3, 2) + _varint(4) + _varint(1) + _varint(2) + _varint(150)  # packed varints
        + _key(3, 0) + _varint(7)  # and one unpacked
        + _key(4, 1) + struct.pack("<d", 0.5)  # fixed64
        + _key(5, 2) + _varint(3) + b"abc"  # bytes / sub-message
    )
    fields = parse_message(msg)
    assert fields[1][0].value == 300
    np.testing.assert_array_equal(repeated_floats(fields[2]), np.array(floats, np.float32))
    np.testing.assert_array_equal(repeated_varints(fields[3]), [1, 2, 150, 7])
    assert struct.unpack("<d", int(fields[4][0].value).to_bytes(8, "little"))[0] == 0.5
    assert fields[5][0].value == b"abc"
    assert single_float(fields.get(2), 9.0) == floats[-1]  # last record wins
    assert single_float(fields.get(99), 9.0) == 9.0


@pytest.mark.parametrize(
    "bad",
    [
        _key(1, 0) + b"\x80",  # varint cut off
        _key(1, 2) + _varint(10) + b"abc",  # length past the end
        _key(1, 5) + b"\x00\x00",  # fixed32 cut off
        _key(1, 3),  # group (obsolete wire type)
        b"\x00\x01",  # field number 0
    ],
)
def test_protowire_rejects_malformed_messages(bad: bytes) -> None:
    with pytest.raises(ProtoDecodeError):
        list(iter_fields(bad))


# ----------------------------------------------------------------------------- canonical model


@pytest.fixture(scope="module")
def metadata():
    return load_geometry_metadata(model_path("geometry_pipeline_metadata_landmarks"))


def test_metadata_counts_and_known_values(metadata) -> None:
    assert metadata.vertices.shape == (468, 3)
    assert metadata.uvs.shape == (468, 2)
    assert metadata.triangles.shape == (898, 3)
    assert metadata.num_weighted == 33
    assert metadata.triangles.min() == 0 and metadata.triangles.max() == 467
    # Values from the canonical model (cm): nose tip region, chin, the two outer eye corners.
    np.testing.assert_allclose(metadata.vertices[4], [0.0, -0.463, 7.587], atol=1e-3)
    np.testing.assert_allclose(metadata.vertices[152], [0.0, -9.403, 4.264], atol=1e-3)
    np.testing.assert_allclose(metadata.vertices[33], [-4.446, 2.664, 3.173], atol=1e-3)
    np.testing.assert_allclose(metadata.vertices[263], [4.446, 2.664, 3.173], atol=1e-3)
    assert metadata.weights[129] == pytest.approx(0.120625205338001)
    assert metadata.weights[4] == pytest.approx(0.070909939706326)
    assert metadata.weights[0] == 0.0
    # The weights are left/right symmetric pairs, like the canonical face.
    np.testing.assert_allclose(metadata.weights[33], metadata.weights[263])
    assert (metadata.uvs >= 0).all() and (metadata.uvs <= 1).all()


def test_metadata_errors_name_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.binarypb"
    bad.write_bytes(b"\x0a\xff\xff")  # canonical_mesh whose length runs past the end
    with pytest.raises(ModelError, match="broken.binarypb"):
        load_geometry_metadata(bad)
    with pytest.raises(ModelError, match="cannot read"):
        load_geometry_metadata(tmp_path / "missing.binarypb")


# ----------------------------------------------------------------------------- Procrustes


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_procrustes_recovers_a_known_similarity_transform_exactly() -> None:
    rng = np.random.default_rng(7)
    src = rng.normal(size=(60, 3)) * 5
    weights = rng.uniform(0.1, 1.0, 60)
    weights[:15] = 0.0
    truth = []
    targets = []
    for _ in range(4):
        m = np.eye(4)
        m[:3, :3] = rng.uniform(0.3, 3.0) * _random_rotation(rng)
        m[:3, 3] = rng.normal(size=3) * 20
        t = src @ m[:3, :3].T + m[:3, 3]
        t[:15] += rng.normal(size=(15, 3)) * 100  # zero-weight points must not matter
        truth.append(m)
        targets.append(t)
    got = weighted_procrustes(src, np.stack(targets), weights)
    assert got.shape == (4, 4, 4)
    np.testing.assert_allclose(got, np.stack(truth), atol=1e-9)


def test_procrustes_never_returns_a_reflection() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(20, 3))
    mirrored = src * np.array([-1.0, 1.0, 1.0])
    m = weighted_procrustes(src, mirrored, np.ones(20))
    r = m[:3, :3] / np.linalg.norm(m[:3, 0])
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)


def test_procrustes_rejects_bad_input_and_marks_degenerate_targets() -> None:
    src = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ProcrustesError):
        weighted_procrustes(src, src, np.zeros(10))
    with pytest.raises(ProcrustesError):
        weighted_procrustes(src, src, -np.ones(10))
    with pytest.raises(ProcrustesError):
        weighted_procrustes(src, src[:5], np.ones(10))
    out = weighted_procrustes(src, np.stack([src, np.zeros_like(src)]), np.ones(10))
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()


# ----------------------------------------------------------------------------- pipeline vs MediaPipe


def _rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    ra = a[:3, :3] / np.linalg.norm(a[:3, 0])
    rb = b[:3, :3] / np.linalg.norm(b[:3, 0])
    # Chord formula: accurate for tiny angles, unlike arccos of the trace.
    return float(np.degrees(2 * np.arcsin(min(1.0, np.linalg.norm(ra - rb) / (2 * np.sqrt(2))))))


def test_matrices_from_mediapipe_landmarks_match_mediapipe(metadata) -> None:
    """The geometry stage alone: MediaPipe's own landmarks in, its matrices out."""
    est = FaceGeometryEstimator(metadata)
    faces = 0
    for rel in golden_inputs("face_landmarker"):
        g = load_golden("face_landmarker", rel)
        if len(g["landmarks"]) == 0:
            continue
        geo = est.estimate(g["landmarks"], tuple(int(v) for v in g["image_size"]))
        for got, ref in zip(geo.matrices, g["transformation_matrices"]):
            assert _rotation_angle_deg(got, ref) < 0.05, rel
            assert np.linalg.norm(got[:3, 3] - ref[:3, 3]) < 0.01, rel  # cm
            faces += 1
    assert faces >= 40


def test_metric_mesh_is_consistent_with_the_matrix(metadata) -> None:
    g = load_golden("face_landmarker", "faces/mp_sergey.png")
    geo = FaceGeometryEstimator(metadata).estimate(g["landmarks"], tuple(int(v) for v in g["image_size"]))
    mesh = geo.mesh_vertices[0]
    # The metric mesh is a face-sized deformation of the canonical model (cm), not a copy of it.
    d = np.linalg.norm(mesh - metadata.vertices, axis=1)
    assert 0.01 < d.mean() < 1.5
    # Camera-space points project (perspective camera) exactly back onto the input screen landmarks.
    cam = geo.camera_space_vertices()[0].astype(np.float64)
    w, h = (int(v) for v in g["image_size"])
    proj = Environment().projection_matrix((w, h)).astype(np.float64)
    clip = np.c_[cam, np.ones(len(cam))] @ proj.T
    ndc = clip[:, :2] / clip[:, 3:4]
    screen = np.c_[(ndc[:, 0] + 1) / 2, 1 - (ndc[:, 1] + 1) / 2]
    err_px = np.linalg.norm((screen - g["landmarks"][0, :468, :2]) * [w, h], axis=1)
    assert err_px.max() < 1e-2


def test_estimator_handles_empty_and_degenerate_faces(metadata) -> None:
    est = FaceGeometryEstimator(metadata)
    empty = est.estimate(np.zeros((0, 478, 3)), (640, 480))
    assert empty.matrices.shape == (0, 4, 4) and empty.mesh_vertices.shape == (0, 468, 3)
    g = load_golden("face_landmarker", "faces/mp_sergey.png")
    tiny = np.full((1, 478, 3), 0.5, np.float32)  # all points in one spot: MediaPipe skips such a face
    geo = est.estimate(np.concatenate([tiny, g["landmarks"]]), (600, 600))
    assert not geo.valid[0] and geo.valid[1]
    with pytest.raises(ValueError):
        est.estimate(np.zeros((1, 100, 3)), (600, 600))


def test_environment_validation() -> None:
    with pytest.raises(ValueError):
        Environment(vertical_fov_degrees=180)
    with pytest.raises(ValueError):
        Environment(near=10, far=1)
    left, right, bottom, top = Environment().near_plane((640, 480))
    assert top - bottom == pytest.approx(1.2256016, rel=1e-6)  # 2 tan(31.5 deg)
    assert (right - left) / (top - bottom) == pytest.approx(640 / 480)


# ----------------------------------------------------------------------------- head pose


def _rot(axis: str, deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


@pytest.mark.parametrize("yaw,pitch,roll", [(30, 10, -5), (-60, -20, 15), (0, 0, 0), (75, 0, 40)])
def test_head_pose_round_trips_known_angles(yaw: float, pitch: float, roll: float) -> None:
    m = np.eye(4)
    m[:3, :3] = 1.02 * _rot("y", yaw) @ _rot("x", -pitch) @ _rot("z", roll)
    m[:3, 3] = [3.0, -1.0, -45.0]
    pose = head_pose(m)
    assert pose.yaw[0] == pytest.approx(yaw, abs=1e-4)
    assert pose.pitch[0] == pytest.approx(pitch, abs=1e-4)
    assert pose.roll[0] == pytest.approx(roll, abs=1e-4)
    assert pose.scale[0] == pytest.approx(1.02, abs=1e-6)
    np.testing.assert_allclose(pose.translation_cm[0], [3.0, -1.0, -45.0], atol=1e-5)
    assert pose.distance_cm[0] == pytest.approx(np.linalg.norm([3.0, -1.0, -45.0]), rel=1e-6)
