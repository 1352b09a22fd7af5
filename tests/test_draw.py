"""Drawing behaviour: vectorised calls, colour order, visibility, scaling, masks, head pose, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from goldens_util import golden_inputs, load_golden

from facepipe.draw import connections as conn
from facepipe.draw import drawing as dr
from facepipe.draw import styles as st
from facepipe.results import Detections, Landmarks

DRAWING_GOLDENS = Path(__file__).resolve().parent / "goldens" / "drawing" / "cases.json"


def _golden_face(name: str = "face_mesh_multi") -> tuple[np.ndarray, tuple[int, int]]:
    case = next(c for c in json.loads(DRAWING_GOLDENS.read_text())["cases"] if c["name"] == name)
    faces = np.array([np.array([i["x"], i["y"], i["z"]]).T for i in case["instances"]])
    return faces, tuple(case["size"])


class _CallCounter:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *a, **k):
        self.calls += 1
        return self.fn(*a, **k)


def test_default_mode_is_one_polylines_call_per_colour(monkeypatch) -> None:
    faces, (w, h) = _golden_face()
    assert len(faces) == 3
    poly = _CallCounter(cv2.polylines)
    line = _CallCounter(cv2.line)
    monkeypatch.setattr(cv2, "polylines", poly)
    monkeypatch.setattr(cv2, "line", line)
    img = np.zeros((h, w, 3), np.uint8)
    dr.draw_face_mesh(img, faces)
    # 3 faces x (2556 + 124 + 8) edges, yet: tessellation 1 colour, contours 3 (white, green, red), irises 2.
    assert poly.calls == 6
    assert line.calls == 0
    assert (img != 0).any()


def test_colour_order_flips_channels() -> None:
    pts = np.array([[0.1, 0.5, 0.0], [0.9, 0.5, 0.0]])
    spec = st.DrawingSpec(color=(255, 0, 0), thickness=3)
    rgb = dr.draw_landmarks(np.zeros((50, 100, 3), np.uint8), pts, [(0, 1)], landmark_spec=None,
                            connection_spec=spec)
    bgr = dr.draw_landmarks(np.zeros((50, 100, 3), np.uint8), pts, [(0, 1)], landmark_spec=None,
                            connection_spec=spec, color_order="bgr")
    assert rgb[25, 50].tolist() == [255, 0, 0]
    assert bgr[25, 50].tolist() == [0, 0, 255]
    with pytest.raises(ValueError, match="color_order"):
        dr.draw_landmarks(np.zeros((50, 100, 3), np.uint8), pts, [(0, 1)], color_order="rgba")


@pytest.mark.parametrize("compatible", [True, False])
def test_low_visibility_points_and_their_edges_are_skipped(compatible: bool) -> None:
    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.uniform(0.1, 0.9, (33, 2)), np.zeros((33, 1))], axis=1)
    vis = np.ones(33)
    vis[16] = 0.2  # right wrist
    low = dr.draw_pose(np.zeros((200, 300, 3), np.uint8), pose, vis, mediapipe_compatible=compatible)
    full = dr.draw_pose(np.zeros((200, 300, 3), np.uint8), pose, np.ones(33), mediapipe_compatible=compatible)
    assert (low != full).any()
    # Expected: the wrist moved far off the image and its edges removed from the style.
    style = st.pose_connections_style()
    keep = (style.edges != 16).all(axis=1)
    without = st.ConnectionStyle(style.edges[keep], style.colors[keep], style.thickness[keep])
    moved = pose.copy()
    moved[16, :2] = 50.0
    expected = dr.draw_pose(np.zeros((200, 300, 3), np.uint8), moved, np.ones(33), connections=without,
                            mediapipe_compatible=compatible)
    assert np.array_equal(low, expected)
    # Visibility as a 4th column gives the same picture.
    col = dr.draw_pose(np.zeros((200, 300, 3), np.uint8), np.concatenate([pose, vis[:, None]], 1),
                       mediapipe_compatible=compatible)
    assert np.array_equal(low, col)


def test_points_outside_the_image() -> None:
    pts = np.array([[0.5, 0.5, 0], [1.5, 0.5, 0]])  # second point right of the image
    compat = dr.draw_landmarks(np.zeros((40, 40, 3), np.uint8), pts, [(0, 1)], landmark_spec=None,
                               mediapipe_compatible=True)
    assert not compat.any()  # MediaPipe drops the point and so the edge
    default = dr.draw_landmarks(np.zeros((40, 40, 3), np.uint8), pts, [(0, 1)], landmark_spec=None)
    assert default[20, 39].any()  # the default runs the line to the border


def test_line_width_grows_with_image_size() -> None:
    faces, _ = _golden_face("face_mesh_sergey")
    small = dr.draw_landmarks(np.zeros((480, 480, 3), np.uint8), faces, conn.POSE_CONNECTIONS[:0],
                              landmark_spec=None)
    assert not small.any()
    pts = np.array([[0.2, 0.5, 0], [0.8, 0.5, 0]])
    thin = dr.draw_landmarks(np.zeros((480, 480, 3), np.uint8), pts, [(0, 1)], landmark_spec=None)
    thick = dr.draw_landmarks(np.zeros((1920, 1920, 3), np.uint8), pts, [(0, 1)], landmark_spec=None)
    # "Ink" across the line (intensity summed over a column) measures its width, anti-aliasing included.
    ink_thin = thin[:, 240, 0].sum() / 224.0
    ink_thick = thick[:, 960, 0].sum() / 224.0
    compat = dr.draw_landmarks(np.zeros((480, 480, 3), np.uint8), pts, [(0, 1)], landmark_spec=None,
                               mediapipe_compatible=True)
    ink_mp = compat[:, 240, 0].sum() / 224.0  # cv2 thickness 2 covers 3 rows
    assert ink_thin == pytest.approx(ink_mp, abs=1.0)  # MediaPipe's width at 480 px
    # 4x the short side: cv2 thickness 8 instead of 2 (width ~ thickness + 1.4 px).
    assert ink_thick == pytest.approx(ink_thin + 6, abs=0.6)
    assert dr.auto_thickness_scale((1080, 1920)) == pytest.approx(1080 / 480)


def test_landmarks_result_and_errors() -> None:
    faces, (w, h) = _golden_face()
    result = Landmarks(faces.astype(np.float32), np.ones(3), np.zeros((3, 5)), (w, h))
    a = dr.draw_face_mesh(np.zeros((h, w, 3), np.uint8), result)
    b = dr.draw_face_mesh(np.zeros((h, w, 3), np.uint8), faces.astype(np.float32))
    assert np.array_equal(a, b) and a.any()
    img = np.zeros((h, w, 3), np.uint8)
    with pytest.raises(ValueError, match="out of range"):
        dr.draw_landmarks(img, faces[0][:100], conn.FACEMESH_TESSELATION)
    with pytest.raises(ValueError, match="uint8"):
        dr.draw_face_mesh(img.astype(np.float32), faces)
    with pytest.raises(ValueError, match="contiguous"):
        dr.draw_face_mesh(img[:, ::2], faces)
    with pytest.raises(ValueError, match="468 or 478"):
        dr.draw_face_mesh(img, faces[:, :100])
    with pytest.raises(ValueError, match="21 landmarks"):
        dr.draw_hands(img, faces)
    with pytest.raises(ValueError, match="labels"):
        dr.draw_hands(img, np.full((2, 21, 3), 0.5), ["Left"])


def test_hand_labels_are_drawn_only_when_given() -> None:
    hand = np.full((21, 3), 0.5)
    hand[:, 0] = np.linspace(0.4, 0.6, 21)
    hand[:, 1] = np.linspace(0.6, 0.8, 21)
    plain = dr.draw_hands(np.zeros((200, 200, 3), np.uint8), hand)
    labelled = dr.draw_hands(np.zeros((200, 200, 3), np.uint8), hand, [("Left", 0.97)])
    above = slice(0, int(0.6 * 200) - 10)  # clear of the dots around the top landmark
    assert not plain[above].any() and labelled[above].any()


def test_detections_default_and_empty() -> None:
    keypoints = [[[40, 50], [60, 50], [50, 60], [50, 75], [25, 55], [75, 55]]]
    det = Detections([[20, 30, 80, 90]], keypoints, [0.9], (120, 120))
    img = dr.draw_detections(np.zeros((120, 120, 3), np.uint8), det, labels=["face"])
    assert img[60, 20].any() and img[60, 80].any()  # left and right box edges
    assert tuple(img[50, 40]) == (255, 0, 0)  # red keypoint centre (RGB)
    assert img[10:28, 20:60].any()  # label above the box
    compat = dr.draw_detections(np.zeros((120, 120, 3), np.uint8), det, mediapipe_compatible=True)
    assert compat[60, 20].tolist() == [224, 224, 224] and not compat[:28].any()  # no text
    empty = np.zeros((50, 50, 3), np.uint8)
    dr.draw_detections(empty, Detections.empty(image_size=(50, 50)))
    assert not empty.any()


def test_segmentation_overlay_on_a_real_mask() -> None:
    rel = golden_inputs("pose")[0]
    g = load_golden("pose", rel)
    mask = g["segmentation_mask_u8"][0]
    h, w = mask.shape
    img = np.full((h, w, 3), 100, np.uint8)
    dr.draw_segmentation(img, mask, color=(255, 0, 0), alpha=0.5, outline=False)
    on, off = mask > 240, mask == 0
    assert on.sum() > 1000 and off.sum() > 1000
    # 100 blended half-way towards (255, 0, 0), in proportion to the confidence.
    assert (img[on][:, 0] >= 173).all() and (img[on][:, 2] <= 53).all()
    assert (img[off] == 100).all()  # untouched outside the person
    # A low-resolution float mask is resized to the image.
    small = cv2.resize(mask.astype(np.float32) / 255, (w // 4, h // 4))
    img2 = dr.draw_segmentation(np.full((h, w, 3), 100, np.uint8), small, outline=True)
    assert (img2 != 100).any(axis=2).mean() > 0.9 * on.mean()
    with pytest.raises(ValueError, match="mask"):
        dr.draw_segmentation(img, np.zeros((2, 3, 4)))


def _eye_corner_errors(vertical_fov_degrees: float) -> np.ndarray:
    """Per face: distance from projected M @ canonical eye corners to the landmarks, / face width."""
    data = json.loads(DRAWING_GOLDENS.read_text())["face_landmarker"]
    canonical = {int(k): np.array(v) for k, v in data["canonical_vertices"].items()}
    rigid = [33, 133, 263, 362]  # eye corners: weighted in the Procrustes fit, barely move with expressions
    v = np.array([canonical[i] for i in rigid])
    errors = []
    for rel in golden_inputs("face_landmarker"):
        g = load_golden("face_landmarker", rel)
        w, h = (int(x) for x in g["image_size"])
        for lm, m in zip(g["landmarks"], g["transformation_matrices"], strict=True):
            px, front = dr.project_points(v @ m[:3, :3].T + m[:3, 3], (w, h), vertical_fov_degrees)
            assert front.all()
            errors.append(np.linalg.norm(px - lm[rigid, :2] * (w, h), axis=1) / (np.ptp(lm[:, 0]) * w))
    return np.array(errors)


def test_head_pose_projection_lands_on_the_landmarks() -> None:
    """M @ canonical vertex, projected with the 63-degree camera, falls on the matching landmark."""
    err = _eye_corner_errors(63.0)
    assert len(err) >= 20
    assert np.median(err) < 0.03 and err.max() < 0.08
    # A different field of view misses by far more: the test pins the camera model.
    assert np.median(_eye_corner_errors(50.0)) > 3 * np.median(err)


def test_head_pose_axes_are_drawn_in_rgb() -> None:
    data = json.loads(DRAWING_GOLDENS.read_text())["face_landmarker"]["images"][0]
    w, h = data["size"]
    m = np.array(data["faces"][0]["matrix"])
    img = dr.draw_head_pose(np.zeros((h, w, 3), np.uint8), m)
    colours = {tuple(c) for c in img.reshape(-1, 3)[img.reshape(-1, 3).any(1)].tolist()}
    assert {(255, 0, 0), (0, 255, 0), (0, 0, 255)} <= colours
    origin, _ = dr.project_points(m[:3, 3], (w, h))
    lm = np.array(data["faces"][0]["landmarks"])[:, :2] * (w, h)
    assert (lm.min(0) < origin).all() and (origin < lm.max(0)).all()  # origin inside the face
    with pytest.raises(ValueError, match="4,4"):
        dr.draw_head_pose(img, np.eye(3))
    # The face landmarker marks a face too small to fit with a NaN matrix: nothing is drawn for it.
    assert not dr.draw_head_pose(np.zeros((h, w, 3), np.uint8), np.full((4, 4), np.nan)).any()
