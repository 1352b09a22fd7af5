"""annotate()/show(): results of any solution drawn in one call, and PNG display for notebooks."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from goldens_util import golden_inputs, load_golden

from facepipe.draw import AnnotatedImage, annotate, show
from facepipe.draw import drawing as dr
from facepipe.results import Detections, Landmarks
from facepipe.solutions.hands import HandsResult

DRAWING_GOLDENS = Path(__file__).resolve().parent / "goldens" / "drawing" / "cases.json"


def _hands_result() -> HandsResult:
    g = load_golden("hands_full", golden_inputs("hands_full")[0])
    n = len(g["landmarks"])
    return HandsResult(g["landmarks"], np.ones(n), np.zeros((n, 5)), tuple(int(v) for v in g["image_size"]),
                       world_landmarks=g["world_landmarks"], handedness=g["handedness_index"],
                       handedness_score=g["handedness_score"], track_ids=np.arange(n))


def test_annotate_hands_result_with_labels_and_leaves_input_alone() -> None:
    hands = _hands_result()
    w, h = hands.image_size
    image = np.full((h, w, 3), 90, np.uint8)
    out = annotate(image, hands)
    assert (image == 90).all()  # a copy was drawn on
    labels = [(lab, float(s)) for lab, s in zip(hands.handedness_labels, hands.handedness_score, strict=True)]
    expected = dr.draw_hands(np.full((h, w, 3), 90, np.uint8), hands.landmarks, labels)
    assert np.array_equal(out, expected)


def test_annotate_face_with_matrices_detections_and_mask() -> None:
    data = json.loads(DRAWING_GOLDENS.read_text())["face_landmarker"]["images"][0]
    w, h = data["size"]
    face = SimpleNamespace(landmarks=np.array([data["faces"][0]["landmarks"]], np.float32),
                           facial_transformation_matrixes=np.array([data["faces"][0]["matrix"]]))
    image = np.zeros((h, w, 3), np.uint8)
    with_axes = annotate(image, face)
    without = annotate(image, face, head_pose=False)
    assert np.array_equal(without, dr.draw_face_mesh(np.zeros_like(image), face.landmarks))
    assert (with_axes != without).any()

    det = Detections([[10, 10, 60, 60]], np.full((1, 6, 2), 30.0), [0.8], (w, h))
    mask = np.zeros((h // 2, w // 2), np.float32)
    mask[: h // 4] = 1.0
    both = annotate(image, [det, mask])
    assert both[10:60, 10].any()  # box edge
    assert both[h // 4, w // 2].any() and not both[h - 5, w // 2].any()  # tint on the masked half only


def test_annotate_plain_landmarks_and_rejects_unknown() -> None:
    lm = Landmarks(np.full((1, 5, 3), 0.5), [1.0], np.zeros((1, 5)), (40, 40))
    assert annotate(np.zeros((40, 40, 3), np.uint8), lm)[20, 20].any()
    with pytest.raises(TypeError, match="draw"):
        annotate(np.zeros((4, 4, 3), np.uint8), "not a result")
    with pytest.raises(ValueError, match="uint8"):
        annotate(np.zeros((4, 4), np.uint8))


def test_annotated_image_renders_png(tmp_path) -> None:
    hands = _hands_result()
    w, h = hands.image_size
    shown = show(np.zeros((h, w, 3), np.uint8), hands)
    assert isinstance(shown, AnnotatedImage)
    png = shown._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(decoded, shown.image)
    shown.save(tmp_path / "hands.png")
    assert np.array_equal(cv2.imread(str(tmp_path / "hands.png"))[:, :, ::-1], shown.image)
    bgr = AnnotatedImage(shown.image[:, :, ::-1].copy(), color_order="bgr")
    assert bgr.to_png() == png


def test_annotate_holistic_like_result_with_plain_arrays() -> None:
    case = next(c for c in json.loads(DRAWING_GOLDENS.read_text())["cases"] if c["name"] == "holistic_tennis")
    w, h = case["size"]
    parts = {k: np.array([v["x"], v["y"], v["z"]]).T for k, v in case["parts"].items()}
    pose = np.concatenate([parts["pose"], np.array(case["parts"]["pose"]["visibility"])[:, None]], axis=1)
    hol = SimpleNamespace(pose_landmarks=pose, face_landmarks=parts["face"],
                          left_hand_landmarks=parts.get("left_hand", np.zeros((21, 3))),
                          right_hand_landmarks=parts.get("right_hand", np.zeros((21, 3))),
                          segmentation_mask=None)
    out = annotate(np.zeros((h, w, 3), np.uint8), hol)
    expected = np.zeros((h, w, 3), np.uint8)
    dr.draw_pose(expected, pose)
    dr.draw_face_mesh(expected, parts["face"])
    for side in ("left_hand", "right_hand"):
        if side in parts:
            dr.draw_hands(expected, parts[side])
    assert np.array_equal(out, expected)  # (33, 4) is a pose, not a mask; all-zero hands are absent


def test_annotate_pose_result_with_visibility_and_mask() -> None:
    from facepipe.solutions.pose import PoseResult

    g = load_golden("pose", golden_inputs("pose")[0])
    w, h = (int(v) for v in g["image_size"])
    lm = g["landmarks"]  # (1, 33, 4) with visibility
    mask = g["segmentation_mask_u8"].astype(np.float32) / 255.0  # (1, H, W)
    pose = PoseResult(lm[:, :, :3], np.ones(1), np.zeros((1, 5)), (w, h), visibility=lm[:, :, 3],
                      landmark_presence=np.ones((1, 33)), world_landmarks=g["world_landmarks"][:, :, :3],
                      world_visibility=g["world_landmarks"][:, :, 3], segmentation_mask=mask)
    out = annotate(np.zeros((h, w, 3), np.uint8), pose)
    expected = dr.draw_pose(np.zeros((h, w, 3), np.uint8), lm)
    dr.draw_segmentation(expected, mask[0])
    assert np.array_equal(out, expected)


def test_annotate_draws_a_real_holistic_result() -> None:
    """facepipe's own HolisticResult (pose/face/left_hand/right_hand) is drawn part by part."""
    from conftest import model_path, testdata_file

    from facepipe.io.image import read_image
    from facepipe.solutions.holistic import Holistic, HolisticOptions

    for name in ("pose_detection", "pose_landmark_full", "face_detection_short_range", "face_landmark",
                 "hand_landmark_full", "hand_recrop"):
        model_path(name)
    image = read_image(testdata_file("pose/tfjs_posenet_tennis_standing.jpg"))
    result = Holistic(HolisticOptions(static_image_mode=True)).process(image)
    assert len(result.pose) == 1 and len(result.face) == 1
    drawn = annotate(image, result)
    changed = np.any(drawn != image, axis=2)
    # The face mesh is drawn inside the face ROI, the skeleton elsewhere too.
    x, y, w, h, _ = result.face.rois[0]
    H, W = changed.shape
    face_box = changed[int((y - h / 2) * H):int((y + h / 2) * H), int((x - w / 2) * W):int((x + w / 2) * W)]
    assert face_box.mean() > 0.05
    assert changed.sum() > face_box.sum()
