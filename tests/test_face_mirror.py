"""Mirrored face-mesh landmarks (stages/face_mirror.py) against the landmark model run on flipped photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import testdata_file as shared_file

from facepipe.solutions.blendshape_regressor import LIVE_LINK_NAMES, teacher_labels
from facepipe.solutions.face_geometry import load_geometry_metadata
from facepipe.stages.face_mirror import mirror_order, mirrored_landmarks


@pytest.fixture(scope="module")
def order() -> np.ndarray:
    return mirror_order(load_geometry_metadata().vertices)


@pytest.fixture(scope="module")
def landmarker():
    from facepipe.apps.trainer.samples import image_landmarker

    return image_landmarker()


def _rgb(rel: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(shared_file(rel))), cv2.COLOR_BGR2RGB)


def test_mirror_order_pairs_the_sides_and_keeps_the_midline(order):
    assert order.shape == (478,) and np.array_equal(order[order], np.arange(478))
    for right, left in ((33, 263), (133, 362), (61, 291), (468, 473), (205, 425), (234, 454)):
        assert order[right] == left and order[left] == right
    for mid in (1, 4, 6, 13, 14, 152, 10):  # nose, lips' centre, chin, forehead
        assert order[mid] == mid


@pytest.mark.parametrize("photo", ["expressions/wink/yale_01_wink.png", "faces/if_pose_left_face.jpeg"])
def test_mirrored_landmarks_are_what_the_model_finds_in_the_flipped_photo(order, landmarker, photo):
    rgb = _rgb(photo)
    w = rgb.shape[1]
    lm = landmarker(rgb)
    flipped = landmarker(np.ascontiguousarray(rgb[:, ::-1]))
    face_width = (lm[:, 0].max() - lm[:, 0].min()) * w
    err = np.abs(mirrored_landmarks(lm, order) - flipped)[:, :2].mean() * w / face_width
    unordered = np.abs(lm * [-1, 1, 1] + [1, 0, 0] - flipped)[:, :2].mean() * w / face_width
    assert err < 0.01 < 0.1 < unordered  # measured 0.4-0.7 % of the face's width against 12-21 %
    batch = mirrored_landmarks(np.stack([lm, flipped]), order)  # any leading axes
    np.testing.assert_array_equal(batch[0], mirrored_landmarks(lm, order))
    np.testing.assert_allclose(mirrored_landmarks(batch, order), np.stack([lm, flipped]), atol=1e-6)  # and back


def test_the_teacher_sees_a_mirrored_wink_on_the_other_eye(order, landmarker):
    rgb = _rgb("expressions/wink/yale_01_wink.png")
    size = (rgb.shape[1], rgb.shape[0])
    lm = landmarker(rgb)
    labels, mirrored = teacher_labels(np.stack([lm, mirrored_landmarks(lm, order)]), size)
    right, left = LIVE_LINK_NAMES.index("eyeBlinkRight"), LIVE_LINK_NAMES.index("eyeBlinkLeft")
    wink = labels[right] - labels[left]
    assert abs(wink) > 0.15  # one eye shut (0.195)
    assert mirrored[left] - mirrored[right] == pytest.approx(wink, abs=0.1)


def test_bad_models_and_shapes_are_refused(order):
    v = np.asarray(load_geometry_metadata().vertices, np.float64)[:468].copy()
    v[1, 0] += 0.5  # the nose tip off the midline: no longer symmetric
    with pytest.raises(ValueError, match="not left-right symmetric"):
        mirror_order(v)
    with pytest.raises(ValueError, match=r"\(468, 3\)"):
        mirror_order(v[:, :2])
    with pytest.raises(ValueError, match="478"):
        mirrored_landmarks(np.zeros((468, 3)), order)
