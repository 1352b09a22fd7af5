"""Iris refinement (iris_landmark.tflite -> MediaPipe's 478 layout): ROIs, crops, merge, mirror symmetry."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import runtime_with
from conftest import testdata_file as data_file

from facepipe.io.image import read_image
from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions
from facepipe.solutions.iris import (
    LEFT_EYE_INDICES,
    LEFT_IRIS_INDICES,
    RIGHT_EYE_INDICES,
    RIGHT_IRIS_INDICES,
    IrisRefiner,
    crop_eye,
    eye_rois,
)

_EYE_POINTS = np.r_[LEFT_EYE_INDICES, RIGHT_EYE_INDICES]


@pytest.fixture(scope="module")
def refiner() -> IrisRefiner:
    return IrisRefiner(runtime=runtime_with("iris_landmark"))


@pytest.fixture(scope="module")
def mesh468() -> FaceMesh:
    return FaceMesh(FaceMeshOptions(static_image_mode=True, max_num_faces=3,
                                    runtime=runtime_with("face_landmark", "face_detection_short_range")))


def _iod(px: np.ndarray) -> float:
    return float(np.linalg.norm(px[[33, 133], :2].mean(0) - px[[362, 263], :2].mean(0)))


def test_index_tables() -> None:
    assert len(LEFT_EYE_INDICES) == len(RIGHT_EYE_INDICES) == 71
    assert len(set(_EYE_POINTS.tolist())) == 142 and _EYE_POINTS.max() < 468
    assert LEFT_IRIS_INDICES.tolist() == [468, 469, 470, 471, 472]
    assert RIGHT_IRIS_INDICES.tolist() == [473, 474, 475, 476, 477]
    # Contours start at the outer corners and end at the inner ones.
    assert (LEFT_EYE_INDICES[0], LEFT_EYE_INDICES[8]) == (33, 133)
    assert (RIGHT_EYE_INDICES[0], RIGHT_EYE_INDICES[8]) == (263, 362)


def test_eye_roi_geometry() -> None:
    W, H = 640, 480
    mesh = np.zeros((1, 468, 3), np.float32)
    # Left eye corners 40 px apart, tilted by 30 deg (clockwise on screen: y grows).
    p0 = np.array([200.0, 200.0])
    p1 = p0 + 40 * np.array([np.cos(np.radians(30)), np.sin(np.radians(30))])
    mesh[0, 33, :2], mesh[0, 133, :2] = p0 / (W, H), p1 / (W, H)
    mesh[0, 362, :2], mesh[0, 263, :2] = np.array([400.0, 210.0]) / (W, H), np.array([440.0, 210.0]) / (W, H)
    rois = eye_rois(mesh, (W, H))
    assert rois.shape == (1, 2, 5)
    left, right = rois[0]
    np.testing.assert_allclose(left[:2] * (W, H), (p0 + p1) / 2, atol=1e-3)
    np.testing.assert_allclose(left[4], np.radians(30), atol=1e-5)
    # Square in pixels, side = 2.3 x the larger side of the corners' box.
    side = 2.3 * max(abs(p1 - p0))
    np.testing.assert_allclose(left[2] * W, side, rtol=1e-5)
    np.testing.assert_allclose(left[3] * H, side, rtol=1e-5)
    np.testing.assert_allclose(right[2] * W, 2.3 * 40, rtol=1e-5)
    np.testing.assert_allclose(right[4], 0.0, atol=1e-6)


def test_crop_eye_flip_and_letterbox() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    roi = np.array([0.5, 0.5, 40 / 160, 40 / 120, 0.2], np.float32)
    crop, pad = crop_eye(image, roi, flip=False)
    flipped, pad_f = crop_eye(image, roi, flip=True)
    assert crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    np.testing.assert_array_equal(flipped, crop[:, ::-1])
    np.testing.assert_array_equal(pad, [0, 0, 0, 0])
    np.testing.assert_array_equal(pad_f, pad)
    # A non-square crop (30 x 20 px) is letterboxed top and bottom with black.
    wide = np.array([0.5, 0.5, 30 / 160, 20 / 120, 0.0], np.float32)
    crop, pad = crop_eye(np.full_like(image, 200), wide, flip=False)
    np.testing.assert_allclose(pad, [0, (1 - 20 / 30) / 2, 0, (1 - 20 / 30) / 2], atol=1e-6)
    rows = (crop == 0).all(axis=(1, 2))
    assert rows[:10].all() and rows[-10:].all() and not rows[11:-11].any()
    # Axis-aligned even-sized crop: nearest-neighbour copy of the pixels around the centre.
    small = np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)
    c, _ = crop_eye(small, np.array([0.5, 0.5, 8 / 32, 8 / 32, 0.0]), flip=False, size=8)
    np.testing.assert_array_equal(c, small[12:20, 12:20])


def test_refine_merges_into_478_layout(refiner, mesh468) -> None:
    image = read_image(data_file("faces/mp_sergey.png"))
    mesh = mesh468.process(image).landmarks
    out = refiner.refine(image, mesh)
    assert out.shape == (1, 478, 3) and out.dtype == np.float32
    untouched = np.setdiff1d(np.arange(468), _EYE_POINTS)
    np.testing.assert_array_equal(out[0, untouched], mesh[0, untouched])
    px = out[0] * np.array([600, 600, 600], np.float32)
    iod = _iod(mesh[0] * 600)
    # The eye contours move only a little (same eyes, better model).
    moved = np.linalg.norm(out[0, _EYE_POINTS, :2] - mesh[0, _EYE_POINTS, :2], axis=1) * 600 / iod
    assert moved.mean() < 0.05
    for iris, contour in ((LEFT_IRIS_INDICES, LEFT_EYE_INDICES[:16]), (RIGHT_IRIS_INDICES, RIGHT_EYE_INDICES[:16])):
        c = px[iris[0], :2]
        lo, hi = px[contour, :2].min(0), px[contour, :2].max(0)
        assert (c > lo).all() and (c < hi).all()  # iris centre inside its eye
        # Edges: 1 is the image-right edge, 3 the image-left, 2 above, 4 below the centre.
        assert px[iris[1], 0] > c[0] > px[iris[3], 0]
        assert px[iris[2], 1] < c[1] < px[iris[4], 1]
        radius = np.linalg.norm(px[iris[1:], :2] - c, axis=1)
        assert 0.08 * iod < radius.mean() < 0.25 * iod


def test_mirrored_image_gives_mirrored_irises(refiner, mesh468) -> None:
    """The right eye is read through a mirror; mirroring the photo must swap the eyes consistently."""
    image = read_image(data_file("faces/pyfeat_single_face.jpg"))
    W, H = image.shape[1], image.shape[0]
    mirrored = np.ascontiguousarray(image[:, ::-1])
    a = refiner.refine(image, mesh468.process(image).landmarks)[0] * (W, H, W)
    b = refiner.refine(mirrored, mesh468.process(mirrored).landmarks)[0] * (W, H, W)
    b[:, 0] = W - b[:, 0]  # back to the original frame
    iod = _iod(a)
    # Mirroring swaps eyes and left/right edges: 468..472 <-> 473, 476, 475, 474, 477.
    pairs = {468: 473, 469: 476, 470: 475, 471: 474, 472: 477}
    for i, j in pairs.items():
        assert np.linalg.norm(b[i, :2] - a[j, :2]) < 0.04 * iod, (i, j)
        assert np.linalg.norm(b[j, :2] - a[i, :2]) < 0.04 * iod, (j, i)


def test_batch_and_empty(refiner, mesh468) -> None:
    images = [read_image(data_file(r)) for r in ("groups/tfjs_three_people.jpg", "faces/mp_sergey.png")]
    meshes = [mesh468.process(im).landmarks for im in images]
    batch = refiner.refine_batch(images + [images[0]], meshes + [np.zeros((0, 468, 3), np.float32)])
    assert [len(b) for b in batch] == [3, 1, 0] and batch[2].shape == (0, 478, 3)
    for im, m, b in zip(images, meshes, batch):
        np.testing.assert_allclose(b, refiner.refine(im, m), atol=1e-6)
    assert refiner.refine(images[0], np.zeros((0, 468, 3))).shape == (0, 478, 3)
