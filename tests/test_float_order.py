"""MediaPipe's float32 order of operations in the ROI stages (what keeps tracking bit-exact).

The end-to-end proof is the video goldens (test_holistic / test_hands / test_pose / test_face_mesh /
test_face_landmarker: tracked ROIs equal MediaPipe's bit for bit); these pin the individual rules.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest

from facepipe.stages import libm32
from facepipe.stages.detection_decode import RawDetections, weighted_nms
from facepipe.stages.filters import OneEuroFilter, roi_object_scale
from facepipe.stages.projection import matrix_z_scale, remove_letterbox_detections
from facepipe.stages.rects import (
    hand_rects_from_pose_points,
    rect_corners_xyxy,
    rects_from_alignment_points,
    rects_from_detections,
    rects_from_keypoints,
    rects_from_landmarks,
    transform_rects,
)

f32 = np.float32


def test_libm_functions_are_the_c_librarys() -> None:
    if not libm32.HAVE_LIBM:
        pytest.skip("no C math library here (the correctly rounded fallback is used)")
    name = ctypes.util.find_library("m")
    if name is None:
        pytest.skip("libm not found by name on this platform")
    m = ctypes.CDLL(name)
    m.atan2f.restype = m.cosf.restype = ctypes.c_float
    m.atan2f.argtypes, m.cosf.argtypes = [ctypes.c_float] * 2, [ctypes.c_float]
    rng = np.random.default_rng(0)
    y, x = (rng.normal(size=300) * 100).astype(np.float32), (rng.normal(size=300) * 100).astype(np.float32)
    want = np.array([m.atan2f(float(a), float(b)) for a, b in zip(y, x)], np.float32)
    np.testing.assert_array_equal(libm32.atan2f(y, x), want)
    t = rng.uniform(-4, 4, 300).astype(np.float32)
    np.testing.assert_array_equal(libm32.cosf(t), np.array([m.cosf(float(v)) for v in t], np.float32))
    # Nothing is asserted about numpy's own float32 arctan2/cos: whether they agree with libm is a
    # property of the CPU and the numpy build, not of facepipe (they agree on some x86-64 machines).


def test_sigmoid_rounds_exp_once_and_overflows_to_zero() -> None:
    v = np.array([-100.0, -3.3, 0.0, 0.7, 100.0], np.float32)
    with np.errstate(over="ignore"):
        e = np.exp(-v.astype(np.float64)).astype(np.float32)
        np.testing.assert_array_equal(libm32.sigmoidf(v), f32(1) / (f32(1) + e))
    assert libm32.sigmoidf(np.float32(-100.0)) == 0.0  # exp(100) overflows float32: exactly 0, as in C++


def test_transform_shifts_an_upright_rect_by_size_times_shift() -> None:
    W, H = 577, 433  # sizes where (W * w * s) / W is not always w * s
    rng = np.random.default_rng(1)
    r = np.zeros((200, 5), np.float32)
    r[:, :4] = rng.uniform(0.1, 0.9, (200, 4)).astype(np.float32)
    out = transform_rects(r, (W, H), shift_y=-0.1, square_long=False)
    np.testing.assert_array_equal(out[:, 1], r[:, 1] + r[:, 3] * f32(-0.1))
    np.testing.assert_array_equal(out[:, 0], r[:, 0])
    rot = r.copy()
    rot[:, 4] = 0.3
    moved = transform_rects(rot, (W, H), shift_y=-0.1, square_long=False)
    s = libm32.sinf(rot[:, 4])
    # x += (W * w * 0 * cos - H * h * shift_y * sin) / W, all float32 with libm's sinf.
    np.testing.assert_array_equal(moved[:, 0], rot[:, 0] + (f32(0) - f32(H) * rot[:, 3] * f32(-0.1) * s) / f32(W))


def test_box_centres_follow_each_calculator() -> None:
    rng = np.random.default_rng(2)
    pts = rng.uniform(0.2, 0.8, (50, 6, 2)).astype(np.float32)
    mn, mx = pts.min(1), pts.max(1)
    # LandmarksToDetection + box mode: xmin + width / 2.
    np.testing.assert_array_equal(rects_from_landmarks(pts, (640, 480), start=0, end=1, target_deg=0)[:, :2],
                                  mn + (mx - mn) / f32(2))
    # DetectionsToRects with USE_KEYPOINTS: (min + max) / 2.
    np.testing.assert_array_equal(rects_from_keypoints(pts, (640, 480), start=0, end=1, target_deg=0)[:, :2],
                                  (mn + mx) / f32(2))
    # They are not the same numbers (the reason both exist).
    assert ((mn + (mx - mn) / f32(2)) != ((mn + mx) / f32(2))).any()


def test_alignment_rect_centre_is_the_pixel_point_divided_back() -> None:
    W, H = 720, 1280
    c = np.random.default_rng(3).uniform(0.1, 0.9, (300, 2)).astype(np.float32)
    out = rects_from_alignment_points(c, c + f32(0.05), (W, H), target_deg=90.0)
    np.testing.assert_array_equal(out[:, 0], (c[:, 0] * f32(W)) / f32(W))
    assert (out[:, 0] != c[:, 0]).any()  # (x * W) / W is not x for every float


def test_hand_rect_from_pose_points() -> None:
    wrist, index, pinky = np.array([[0.5, 0.6]]), np.array([[0.5, 0.4]]), np.array([[0.53, 0.43]])
    r = hand_rects_from_pose_points(wrist, index, pinky, (400, 400))[0]
    middle = (2 * index[0] + pinky[0]) / 3
    np.testing.assert_allclose(r[:2], middle, atol=1e-6)
    np.testing.assert_allclose(r[2], 2 * np.linalg.norm(middle - wrist[0]), atol=1e-6)
    assert abs(r[4]) < 0.1  # wrist below the fingers: upright


def test_letterbox_removal_scales_the_box_size() -> None:
    boxes = np.array([[0.3, 0.2, 0.55, 0.45]], np.float32)
    dets = RawDetections(boxes, np.array([[[0.4, 0.3]]], np.float32), np.array([0.9], np.float32))
    pad = np.array([0.0, 0.125, 0.0, 0.125], np.float32)
    out = remove_letterbox_detections(dets, pad)
    w = (boxes[0, 2] - boxes[0, 0]) / f32(1.0)
    h = (boxes[0, 3] - boxes[0, 1]) / (f32(1) - (pad[1] + pad[3]))
    np.testing.assert_array_equal(out.xywh[0, 2:], [w, h])
    np.testing.assert_array_equal(out.boxes[0, 2:], out.xywh[0, :2] + out.xywh[0, 2:])
    np.testing.assert_array_equal(out.take([0]).sizes, out.sizes)
    r = rects_from_detections(out, (100, 100), target_deg=None)[0]
    np.testing.assert_array_equal(r[2:4], [w, h])


def test_nms_sums_in_score_order() -> None:
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.11, 0.1, 0.31, 0.3], [0.1, 0.12, 0.3, 0.31]], np.float32)
    scores = np.array([0.7, 0.9, 0.8], np.float32)
    out = weighted_nms(RawDetections(boxes, np.zeros((3, 1, 2), np.float32), scores), 0.3)
    order = [1, 2, 0]
    total = (scores[1] + scores[2]) + scores[0]
    xmin = ((boxes[1, 0] * scores[1] + boxes[2, 0] * scores[2]) + boxes[0, 0] * scores[0]) / total
    assert len(out) == 1 and out.scores[0] == scores[1]
    assert out.boxes[0, 0] == xmin
    np.testing.assert_allclose(out.boxes[0], (boxes[order] * scores[order, None]).sum(0) / scores.sum(), rtol=1e-6)


def test_association_rect_edges_are_min_plus_size() -> None:
    r = np.random.default_rng(4).uniform(0.1, 0.5, (100, 5)).astype(np.float32)
    xyxy = rect_corners_xyxy(r)
    np.testing.assert_array_equal(xyxy[:, 2], (r[:, 0] - r[:, 2] / f32(2)) + r[:, 2])


def test_one_euro_options_are_float32_like_mediapipes_proto_fields() -> None:
    f = OneEuroFilter(min_cutoff=0.01, beta=10.0, derivate_cutoff=1.0)
    assert f.min_cutoff == float(np.float32(0.01)) != 0.01


def test_object_scale_and_z_scale() -> None:
    roi = np.array([0.5, 0.5, 0.3, 0.4, 0.0], np.float32)
    assert roi_object_scale(roi, (640, 480)) == float((f32(0.3) * f32(640) + f32(0.4) * f32(480)) / f32(2))
    m = np.zeros((4, 4), np.float32)
    m[0, 0], m[1, 0], m[0, 3], m[1, 3] = 0.3, 0.4, 0.2, 0.1
    np.testing.assert_allclose(matrix_z_scale(m), 0.5, rtol=1e-6)
