"""FaceDetector: parity with mediapipe 0.10.21 goldens (short and full range), batch, ROI, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import runtime_with
from conftest import testdata_file as data_file
from goldens_util import golden_inputs, load_golden, set_info

from facepipe.io.image import read_image
from facepipe.solutions.face_detection import FACE_KEYPOINT_NAMES, FaceDetector, FaceDetectorOptions
from facepipe.stages.detection_decode import iou_matrix

_MODELS = {"face_detection_short": ("short", "face_detection_short_range"),
           "face_detection_full": ("full", "face_detection_full_range_sparse")}
# A face whose score is this close to the threshold may flip sides on tiny numeric
# differences (LiteRT vs MediaPipe's interpreter); such faces may be missing on one side.
_SCORE_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def detectors() -> dict[str, FaceDetector]:
    return {name: FaceDetector(FaceDetectorOptions(model=m, runtime=runtime_with(file)))
            for name, (m, file) in _MODELS.items()}


def _golden_pixels(g: dict, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    W, H = size
    boxes = g["boxes"] * np.array([W, H, W, H], np.float32)
    boxes[:, 2:] += boxes[:, :2]  # xmin, ymin, width, height -> xyxy
    return boxes, g["keypoints"] * np.array([W, H], np.float32)


@pytest.mark.parametrize("set_name", list(_MODELS))
def test_parity_with_mediapipe(set_name: str, detectors) -> None:
    det = detectors[set_name]
    threshold = det.min_score
    assert threshold == (0.5 if set_name.endswith("short") else 0.6)
    inputs = golden_inputs(set_name)
    assert len(inputs) >= 30
    total = 0
    for rel in inputs:
        g = load_golden(set_name, rel)
        image = read_image(data_file(rel))
        size = (image.shape[1], image.shape[0])
        res = det.detect(image)
        assert res.image_size == size
        ref_boxes, ref_kps = _golden_pixels(g, size)
        iou = iou_matrix(ref_boxes, res.xyxy) if len(res) and len(ref_boxes) else np.zeros((len(ref_boxes), len(res)))
        # Every MediaPipe face is found (IoU >= 0.98, keypoints within 1 px) unless its score is at the threshold.
        for i in range(len(ref_boxes)):
            if iou.shape[1] == 0 or iou[i].max() < 0.98:
                assert g["scores"][i] - threshold < _SCORE_TOLERANCE, (rel, i, g["scores"][i])
                continue
            j = int(iou[i].argmax())
            kp_err = np.linalg.norm(ref_kps[i] - res.keypoints[j], axis=1).max()
            assert kp_err <= 1.0, (rel, i, kp_err)
            assert abs(res.scores[j] - g["scores"][i]) < 0.01, (rel, i)
            total += 1
        # ... and nothing extra, except at the threshold.
        for j in range(len(res)):
            if iou.shape[0] == 0 or iou[:, j].max() < 0.98:
                assert res.scores[j] - threshold < _SCORE_TOLERANCE, (rel, j, res.scores[j])
        # Same order as MediaPipe (by score).
        assert np.all(np.diff(res.scores) <= 0), rel
    assert total >= 35  # the sets hold many faces, not just a few


def test_many_faces_and_no_face(detectors) -> None:
    det = detectors["face_detection_full"]
    crowd = read_image(data_file("groups/lz_11.jpg"))
    g = load_golden("face_detection_full", "groups/lz_11.jpg")
    assert len(g["scores"]) >= 8
    assert len(det.detect(crowd)) == len(g["scores"])
    blank = np.full((300, 400, 3), 127, np.uint8)
    empty = det.detect(blank)
    assert len(empty) == 0
    assert empty.xyxy.shape == (0, 4) and empty.keypoints.shape == (0, 6, 2) and empty.image_size == (400, 300)


def test_relative_detections_are_the_pixels_over_the_image_size(detectors) -> None:
    det = detectors["face_detection_full"]
    crowd = read_image(data_file("groups/lz_11.jpg"))
    rel, pix = det.detect_relative(crowd), det.detect(crowd)
    assert rel.image_size == (1, 1) and len(rel) == len(pix) >= 8
    assert rel.keypoints.shape == (len(rel), 6, 2) and (rel.xyxy >= -0.1).all() and (rel.xyxy <= 1.1).all()
    H, W = crowd.shape[:2]
    np.testing.assert_array_equal(pix.xyxy, rel.xyxy * np.array([W, H, W, H], np.float32))
    np.testing.assert_array_equal(pix.keypoints, rel.keypoints * np.array([W, H], np.float32))
    np.testing.assert_array_equal(pix.scores, rel.scores)
    assert len(det.detect_relative(np.full((300, 400, 3), 127, np.uint8))) == 0


def test_batch_equals_single(detectors) -> None:
    det = detectors["face_detection_short"]
    rels = ["faces/mp_sergey.png", "groups/tfjs_three_people.jpg", "faces/if_tom_hanks_112.png"]
    images = [read_image(data_file(r)) for r in rels]
    batch = det.detect_batch(images)
    for image, b in zip(images, batch):
        single = det.detect(image)
        np.testing.assert_allclose(b.xyxy, single.xyxy, atol=1e-3)
        np.testing.assert_allclose(b.scores, single.scores, atol=1e-6)
    assert det.detect_batch([]) == []


def test_roi_finds_face_in_rotated_image(detectors) -> None:
    """With an ROI rotated like the image, the upright model finds the face again at the same place."""
    det = detectors["face_detection_short"]
    image = read_image(data_file("faces/mp_sergey.png"))
    H, W = image.shape[:2]
    ref = det.detect(image)
    rotated = np.ascontiguousarray(np.rot90(image, 1))  # counter-clockwise: (x, y) -> (y, W - x)
    # The ROI rotated clockwise by 90 deg on screen samples the upright face.
    roi = np.array([0.5, 0.5, 1.0, 1.0, -np.pi / 2], np.float32)
    res = det.detect(rotated, roi=roi)
    assert len(res) == 1
    kp = res.keypoints[0]
    back = np.stack([W - kp[:, 1], kp[:, 0]], axis=1)  # rotated pixel -> original pixel
    assert np.linalg.norm(back - ref.keypoints[0], axis=1).max() < 3.0


def test_keypoint_names() -> None:
    assert FACE_KEYPOINT_NAMES[:2] == ("right_eye", "left_eye") and len(FACE_KEYPOINT_NAMES) == 6


def test_full_range_threshold_matches_mediapipe_quirk() -> None:
    # The goldens were recorded with min_detection_confidence 0.5, yet MediaPipe's
    # full-range graph kept its own 0.6: no golden full-range face scores below 0.6.
    assert set_info("face_detection_full")["options"]["min_detection_confidence"] == 0.5
    scores = np.concatenate([load_golden("face_detection_full", r)["scores"]
                             for r in golden_inputs("face_detection_full")])
    assert scores.min() >= 0.6


@pytest.mark.parametrize(
    "bad", [np.zeros((10, 10, 3), np.float64), np.zeros((10, 10), np.uint8), np.zeros((0, 5, 3), np.uint8), None]
)
def test_bad_input(bad, detectors) -> None:
    with pytest.raises(ValueError):
        detectors["face_detection_short"].detect(bad)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown face detector model"):
        FaceDetectorOptions(model="huge")
    with pytest.raises(ValueError, match="min_score"):
        FaceDetectorOptions(min_score=1.5)
