"""`Detections`, the one public detection type: merge, NMS, track ids, extras, coordinate frames."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.io.image import read_image
from facepipe.results import Detections, box_iou
from facepipe.stages.detection_decode import RawDetections, weighted_nms


@pytest.fixture(scope="module")
def group():
    """A real group photo and the full-range detector's faces in it."""
    from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions

    model_path("face_detection_full_range_sparse")
    img = read_image(shared_file("groups/fr_two_people.jpg"))
    det = FaceDetector(FaceDetectorOptions(model="full", min_score=0.5))
    return img, det, det.detect(img)


def _clustered(seed: int, n: int = 40) -> Detections:
    """Jittered copies of a few boxes (as several views of the same faces give them)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(50, 400, (5, 2)).astype(np.float32)
    pick = rng.integers(0, 5, n)
    c = centres[pick] + rng.normal(0, 4, (n, 2)).astype(np.float32)
    half = rng.uniform(15, 25, (n, 1)).astype(np.float32)
    xyxy = np.concatenate([c - half, c + half], 1)
    kps = c[:, None, :] + rng.normal(0, 5, (n, 6, 2)).astype(np.float32)
    return Detections(xyxy, kps, rng.uniform(0.2, 1.0, n), (640, 480), track_ids=np.arange(n) + 100,
                      extras={"view": pick})


def test_empty_is_well_shaped_everywhere():
    e = Detections.empty(6, (640, 480))
    assert e.xyxy.shape == (0, 4) and e.keypoints.shape == (0, 6, 2) and e.scores.shape == (0,)
    assert len(e.with_nms(0.3)) == 0 and len(e.with_nms(0.3, weighted=False)) == 0
    assert e.normalized_xyxy().shape == (0, 4) and e.normalized_keypoints().shape == (0, 6, 2)
    assert len(Detections.merge([e, e])) == 0
    m = Detections.merge([], num_keypoints=4, image_size=(10, 20))
    assert m.keypoints.shape == (0, 4, 2) and m.image_size == (10, 20)
    f = Detections.from_normalized(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0), (640, 480))
    assert f.keypoints.shape == (0, 6, 2)


def test_weighted_nms_is_the_mediapipe_stage_bit_for_bit():
    """The stage's weighted NMS is checked against MediaPipe's float order (test_float_order);
    `with_nms` must give the very same numbers, and carry each head's track id and extras."""
    for seed in range(5):
        d = _clustered(seed)
        got = d.with_nms(0.3)
        ref = weighted_nms(RawDetections(d.xyxy, d.keypoints, d.scores), 0.3)
        assert 1 < len(got) < len(d)
        np.testing.assert_array_equal(got.xyxy, ref.boxes)
        np.testing.assert_array_equal(got.keypoints, ref.keypoints)
        np.testing.assert_array_equal(got.scores, ref.scores)
        # Each output row's id and extras are those of the input row with its (head) score.
        head = np.array([np.flatnonzero(d.scores == s)[0] for s in got.scores])
        np.testing.assert_array_equal(got.track_ids, d.track_ids[head])
        np.testing.assert_array_equal(got.extras["view"], d.extras["view"][head])


def test_hard_nms_keeps_the_best_of_each_cluster_unchanged():
    d = _clustered(7)
    kept = d.with_nms(0.3, weighted=False)
    assert np.all(np.diff(kept.scores) <= 0)
    iou = box_iou(kept.xyxy, kept.xyxy)
    assert (iou[~np.eye(len(kept), dtype=bool)] <= 0.3).all()
    # Every dropped box overlaps a kept, higher-scoring one.
    ids = set(kept.track_ids.tolist())
    dropped = d[np.array([t not in ids for t in d.track_ids])]
    over = box_iou(dropped.xyxy, kept.xyxy) > 0.3
    higher = kept.scores[None, :] >= dropped.scores[:, None]
    assert (over & higher).any(1).all()
    rows = np.array([np.flatnonzero(d.track_ids == t)[0] for t in kept.track_ids])
    np.testing.assert_array_equal(kept.xyxy, d.xyxy[rows])


def test_nms_threshold_is_validated():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _clustered(0).with_nms(1.5)


def test_merge_concatenates_rows_ids_and_extras():
    a, b = _clustered(1, 5), _clustered(2, 3)
    m = Detections.merge([a, b])
    assert len(m) == 8 and m.image_size == (640, 480)
    np.testing.assert_array_equal(m.track_ids, np.r_[a.track_ids, b.track_ids])
    np.testing.assert_array_equal(m.extras["view"], np.r_[a.extras["view"], b.extras["view"]])
    plain = Detections(b.xyxy, b.keypoints, b.scores, b.image_size, extras=b.extras)
    np.testing.assert_array_equal(Detections.merge([a, plain]).track_ids[5:], [-1, -1, -1])
    sub = m[m.scores > 0.5]
    assert len(sub.extras["view"]) == len(sub) == len(sub.track_ids)


def test_merge_and_rows_refuse_inconsistent_input():
    a = _clustered(1, 5)
    with pytest.raises(ValueError, match="image sizes"):
        Detections.merge([a, a.mapped(1.0, image_size=(10, 10))])
    with pytest.raises(ValueError, match="extras"):
        Detections.merge([a, Detections(a.xyxy, a.keypoints, a.scores, a.image_size)])
    with pytest.raises(ValueError, match="keypoint counts"):
        Detections.merge([a, Detections.empty(4, a.image_size)])
    with pytest.raises(ValueError, match="track_ids"):
        Detections(a.xyxy, a.keypoints, a.scores, track_ids=[1, 2])
    with pytest.raises(ValueError, match="extra 'x'"):
        Detections(a.xyxy, a.keypoints, a.scores, extras={"x": np.zeros(4)})


def test_normalized_frame_round_trips_real_detections(group):
    img, det, faces = group
    assert len(faces) == 2
    back = Detections.from_normalized(faces.normalized_xyxy(), faces.normalized_keypoints(), faces.scores,
                                      faces.image_size)
    np.testing.assert_allclose(back.xyxy, faces.xyxy, rtol=1e-6)
    np.testing.assert_allclose(back.keypoints, faces.keypoints, rtol=1e-6)
    H, W = img.shape[:2]
    assert (faces.normalized_xyxy()[:, [0, 2]] * W == pytest.approx(faces.xyxy[:, [0, 2]], rel=1e-6))


def test_mapped_brings_crop_detections_back_to_the_frame(group):
    """Faces found in a half-size crop of the right part, mapped back, land on the faces found
    in the whole photo."""
    import cv2

    img, det, faces = group
    H, W = img.shape[:2]
    x0 = int(faces.xyxy[:, 0].min()) - 20
    crop = np.ascontiguousarray(img[:, max(0, x0):])
    small = cv2.resize(crop, (crop.shape[1] // 2, crop.shape[0] // 2), interpolation=cv2.INTER_AREA)
    found = det.detect(small)
    assert len(found) == 2 and found.image_size == (small.shape[1], small.shape[0])
    sx, sy = crop.shape[1] / small.shape[1], crop.shape[0] / small.shape[0]
    back = found.mapped((sx, sy), (max(0, x0), 0), image_size=(W, H))
    assert back.image_size == (W, H)
    iou = box_iou(back.xyxy, faces.xyxy)
    assert (iou.max(1) > 0.7).all()
    # Merged with the whole-photo faces, NMS leaves one detection per face.
    assert len(Detections.merge([faces, back]).with_nms(0.3)) == 2
