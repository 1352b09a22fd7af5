"""Unit tests of the shared stages against the numbers in the MediaPipe reference."""

from __future__ import annotations

import numpy as np
import pytest

from facepipe.stages.anchors import FACE_FULL_RANGE, FACE_SHORT_RANGE, PALM, POSE, anchor_centers
from facepipe.stages.detection_decode import RawDetections, decode_detections, iou_matrix, weighted_nms
from facepipe.stages.filters import LowPassFilter, OneEuroFilter, _alpha, smooth_segmentation
from facepipe.stages.image_to_tensor import BORDER_ZERO, crop_to_tensor, full_image_roi
from facepipe.stages.projection import project_landmarks, project_points_matrix, remove_letterbox_points
from facepipe.stages.rects import hand_rects_from_landmarks, rects_from_boxes, transform_rects, wrap_angle
from facepipe.stages.tracking import associate_rects


@pytest.mark.parametrize(
    "spec,count", [(FACE_SHORT_RANGE, 896), (FACE_FULL_RANGE, 2304), (PALM, 2016), (POSE, 2254)]
)
def test_anchor_counts(spec, count):
    a = anchor_centers(spec)
    assert a.shape == (count, 2)
    assert (a > 0).all() and (a < 1).all()


def test_anchor_order_short_range():
    a = anchor_centers(FACE_SHORT_RANGE)
    # First group: 16x16 cells, 2 anchors each, row-major; centres at (x+0.5)/16.
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[32], [0.5 / 16, 1.5 / 16])
    # Second group (8x8, 6 anchors per cell) starts at 512.
    np.testing.assert_allclose(a[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[517], a[512])
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8])


def test_decode_threshold_is_inclusive_and_boxes_decode():
    anchors = np.array([[0.5, 0.5], [0.25, 0.25]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -12.8, 64, 32]  # dx, dy, w, h at scale 128
    raw[0, 4:6] = [6.4, 0]
    logits = np.array([[0.0], [-1.0]], np.float32)  # sigmoid(0) = 0.5 exactly
    d = decode_detections(raw, logits, anchors, scale=128, num_keypoints=6, min_score=0.5)
    assert len(d) == 1
    np.testing.assert_allclose(d.boxes[0], [0.6 - 0.25, 0.4 - 0.125, 0.6 + 0.25, 0.4 + 0.125], atol=1e-6)
    np.testing.assert_allclose(d.keypoints[0, 0], [0.55, 0.5], atol=1e-6)
    assert d.scores[0] == pytest.approx(0.5)


def test_weighted_nms_keeps_head_score_and_averages():
    boxes = np.array([[0, 0, 1, 1], [0.1, 0, 1.1, 1], [5, 5, 6, 6]], np.float32)
    kps = np.zeros((3, 1, 2), np.float32)
    kps[1] = 1.0
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    out = weighted_nms(RawDetections(boxes, kps, scores), 0.3)
    assert len(out) == 2
    np.testing.assert_allclose(out.scores, [0.9, 0.7])
    w = np.array([0.9, 0.6]) / 1.5
    np.testing.assert_allclose(out.boxes[0], w[0] * boxes[0] + w[1] * boxes[1], rtol=1e-6)
    np.testing.assert_allclose(out.keypoints[0, 0], [w[1], w[1]], rtol=1e-6)
    np.testing.assert_allclose(out.boxes[1], boxes[2])


def test_iou_touching_edges_and_disjoint():
    a = np.array([[0, 0, 1, 1]], np.float32)
    b = np.array([[1, 0, 2, 1], [2, 2, 3, 3], [0.5, 0, 1.5, 1]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b)[0], [0.0, 0.0, 1 / 3], rtol=1e-6)


def test_crop_full_square_image_is_a_resize():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    crop = crop_to_tensor(img, full_image_roi(), 64, 64, value_range=(0.0, 1.0))
    np.testing.assert_allclose(crop.tensor, img / 255.0, atol=1 / 255 + 1e-6)
    np.testing.assert_array_equal(crop.padding, np.zeros(4))


def test_crop_rotation_matches_rot90():
    # A 90 degree ROI rotation samples the image rotated: compare with np.rot90.
    # Smooth ramp image: the pixel-corner convention shifts samples by half a pixel.
    img = np.dstack([(np.arange(32 * 32).reshape(32, 32) % 251).astype(np.uint8)] * 3)
    crop = crop_to_tensor(img, np.array([0.5, 0.5, 1, 1, np.pi / 2], np.float32), 32, 32, value_range=(0, 255))
    errs = [np.abs(crop.tensor[2:-2, 2:-2, 0] - np.rot90(img[..., 0], k)[2:-2, 2:-2]).mean() for k in range(4)]
    assert errs[1] < 3.0  # clockwise ROI rotation = counter-clockwise array rotation
    assert min(errs[0], errs[2], errs[3]) > 40


def test_letterbox_padding_value_and_fractions():
    img = np.full((50, 100, 3), 255, np.uint8)
    crop = crop_to_tensor(img, full_image_roi(), 128, 128, keep_aspect=True, border=BORDER_ZERO,
                          value_range=(-1.0, 1.0))
    np.testing.assert_allclose(crop.padding, [0, 0.25, 0, 0.25])
    assert crop.tensor[0, 64, 0] == pytest.approx(-1.0)  # top band is padding
    assert crop.tensor[64, 64, 0] == pytest.approx(1.0)  # middle is the image
    # Matrix maps tensor corners to the padded ROI's corners in image-normalized coords.
    corners = project_points_matrix(np.array([[0, 0], [1, 1]], np.float32), crop.matrix)
    np.testing.assert_allclose(corners, [[0, -0.5], [1, 1.5]], atol=1e-6)
    # Letterbox removal maps the image's top edge in the tensor (v = 0.25) to 0.
    np.testing.assert_allclose(remove_letterbox_points(np.array([[0.5, 0.25]]), crop.padding), [[0.5, 0.0]])


def test_projection_matches_matrix_for_square_roi():
    roi = np.array([0.4, 0.6, 0.3, 0.3, 0.7], np.float32)
    img = np.zeros((100, 100, 3), np.uint8)
    crop = crop_to_tensor(img, roi, 16, 16)
    pts = np.random.default_rng(2).random((10, 3)).astype(np.float32)
    a = project_landmarks(pts, roi)[:, :2]
    b = project_points_matrix(pts, crop.matrix)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_rects_rotation_and_square_long():
    boxes = np.array([[0.2, 0.2, 0.4, 0.3]], np.float32)
    kps = np.array([[[0.25, 0.25], [0.35, 0.35]]], np.float32)  # 45 deg down-right in a square image
    r = rects_from_boxes(boxes, kps, (100, 100), start=0, end=1, target_deg=0.0)
    assert r[0, 4] == pytest.approx(np.pi / 4, abs=1e-6)
    t = transform_rects(r, (200, 100), scale_x=1.5, scale_y=1.5)
    # square_long in pixels: max(0.2*200, 0.1*100) = 40 px -> w = 0.2, h = 0.4, then x1.5
    np.testing.assert_allclose(t[0, 2:4], [0.3, 0.6], rtol=1e-6)
    assert wrap_angle(np.array(np.pi)) == pytest.approx(-np.pi)


def test_hand_rect_of_upright_hand_has_zero_rotation():
    lm = np.zeros((21, 3), np.float32)
    lm[:, 0], lm[:, 1] = 0.5, 0.5
    lm[0, 1] = 0.8  # wrist below the knuckles
    lm[5, 0], lm[13, 0] = 0.45, 0.55
    r = hand_rects_from_landmarks(lm[None], (100, 100))[0]
    assert r[4] == pytest.approx(0.0, abs=1e-6)
    assert r[3] == pytest.approx(0.3, abs=1e-6)


def test_association_tracked_replaces_overlapping_detection():
    det = np.array([[0.5, 0.5, 0.2, 0.2, 0], [0.1, 0.1, 0.1, 0.1, 0]], np.float32)
    trk = np.array([[0.51, 0.5, 0.2, 0.2, 0.1]], np.float32)
    out = associate_rects(det, trk)
    assert len(out) == 2
    np.testing.assert_allclose(out[-1], trk[0])
    np.testing.assert_allclose(out[0], det[1])


def test_alpha_values_from_reference():
    for cutoff, alpha in ((0.01, 0.00209), (0.05, 0.01036), (0.1, 0.02051), (1.0, 0.17317)):
        assert float(_alpha(cutoff, 30.0)) == pytest.approx(alpha, abs=1e-5)


def test_one_euro_passthrough_constant_and_timestamps():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    v0 = np.array([1.0, 2.0], np.float32)
    np.testing.assert_array_equal(f(v0, 0.0), v0)
    np.testing.assert_allclose(f(v0, 1 / 30), v0)
    # A step is smoothed by alpha(1 Hz at 30 Hz) = 0.17317.
    out = f(v0 + 1, 2 / 30)
    np.testing.assert_allclose(out, v0 + 0.17317, atol=1e-4)
    # A non-increasing timestamp returns the value untouched.
    np.testing.assert_array_equal(f(v0 + 5, 2 / 30), v0 + 5)
    # Real timestamps: a 10 Hz stream smooths less per step than a 30 Hz one.
    g = OneEuroFilter(min_cutoff=1.0)
    g(v0, 0.0)
    g(v0, 0.1)
    assert (g(v0 + 1, 0.2) - v0)[0] > 0.17317 + 0.1


def test_low_pass_first_value_passes():
    f = LowPassFilter()
    np.testing.assert_array_equal(f(np.array([3.0]), 0.1), [3.0])
    np.testing.assert_allclose(f(np.array([4.0]), 0.1), [3.1])


def test_low_pass_keeps_the_previous_output_in_double_with_any_numpy():
    """(1 - alpha) * previous is a double product in MediaPipe; with a 0-d alpha numpy 1's
    value-based casting would compute it in float32 (pose tracking then drifts off MediaPipe)."""
    prev = np.array([0.123456789, 0.987654321, 0.333333333], np.float32)
    f = LowPassFilter()
    f(prev, np.float32(0.5))
    v = np.array([0.2, 0.7, 0.4], np.float32)
    alpha = np.float32(0.3141592)
    want = ((np.float64(alpha * v[0]) + (1.0 - np.float64(alpha)) * np.float64(prev[0])),
            (np.float64(alpha * v[1]) + (1.0 - np.float64(alpha)) * np.float64(prev[1])),
            (np.float64(alpha * v[2]) + (1.0 - np.float64(alpha)) * np.float64(prev[2])))
    np.testing.assert_array_equal(f(v, np.asarray(alpha)), np.array(want, np.float64).astype(np.float32))


def test_segmentation_smoothing_uncertain_pixels_blend():
    prev = np.array([[1.0, 1.0]], np.float32)
    cur = np.array([[0.5, 1.0]], np.float32)
    out = smooth_segmentation(cur, prev, 0.7)
    assert out[0, 0] == pytest.approx(0.5 + 0.5 * 0.7)  # t = 0 -> u = 1: full blend
    assert out[0, 1] == pytest.approx(1.0)  # confident pixels keep their value
    np.testing.assert_array_equal(smooth_segmentation(cur, None, 0.7), cur)
