"""facepipe.compat.mediapipe: MediaPipe's API with MediaPipe's numbers.

Modelled on what MediaPipe's own tests check (mediapipe/python/solutions/*_test.py,
mediapipe/tasks/python/test/vision/*): the result structure, None when nothing is
found, landmarks within their pixel tolerance of the expected ones, handedness
labels, blendshape names and scores, running-mode errors. Their test images are
not in the shared data, so the expected values are the mediapipe 0.10.21 goldens
in tests/goldens (same solutions, same options).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import SHARED
from conftest import testdata_file as data_file
from goldens_util import golden_inputs, load_golden

import facepipe.compat.mediapipe as mp
from facepipe.io.image import read_image

# MediaPipe's solution tests allow 5 pixels per landmark (DIFF_THRESHOLD); facepipe is far inside it.
_PIXEL_TOLERANCE = 5


def _xy(landmark_list, size) -> np.ndarray:
    return np.array([[p.x * size[0], p.y * size[1]] for p in landmark_list.landmark])


def _image(rel: str) -> tuple[np.ndarray, tuple[int, int]]:
    image = read_image(data_file(rel))
    return image, (image.shape[1], image.shape[0])


# --------------------------------------------------------------------------- legacy solutions

def test_face_detection_matches_goldens() -> None:
    with mp.solutions.face_detection.FaceDetection(min_detection_confidence=0.5, model_selection=0) as fd:
        for rel in golden_inputs("face_detection_short")[:6]:
            g = load_golden("face_detection_short", rel)
            image, _ = _image(rel)
            res = fd.process(image)
            if len(g["scores"]) == 0:
                assert res.detections is None
                continue
            assert len(res.detections) == len(g["scores"])
            for d, box, kps, score in zip(res.detections, g["boxes"], g["keypoints"], g["scores"]):
                b = d.location_data.relative_bounding_box
                assert [b.xmin, b.ymin, b.width, b.height] == box.tolist()  # float32 values, exactly
                assert d.score == [float(score)] and d.label_id == [0]
                assert [[k.x, k.y] for k in d.location_data.relative_keypoints] == kps.tolist()
                nose = mp.solutions.face_detection.get_key_point(d, mp.solutions.face_detection.FaceKeyPoint.NOSE_TIP)
                assert (nose.x, nose.y) == tuple(kps[2].tolist())


def test_face_mesh_matches_goldens_and_none_without_face() -> None:
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=5) as fm:
        for rel in golden_inputs("face_mesh")[:4]:
            g = load_golden("face_mesh", rel)["landmarks"]
            image, size = _image(rel)
            faces = fm.process(image).multi_face_landmarks
            assert len(faces) == len(g)
            for face, ref in zip(faces, g):
                assert len(face.landmark) == mp.solutions.face_mesh.FACEMESH_NUM_LANDMARKS
                got = np.array([[p.x, p.y, p.z] for p in face.landmark], np.float32)
                np.testing.assert_array_equal(got, ref)
                assert np.abs(_xy(face, size) - ref[:, :2] * size).max() < _PIXEL_TOLERANCE
        assert fm.process(np.zeros((120, 160, 3), np.uint8)).multi_face_landmarks is None


def test_hands_matches_goldens() -> None:
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1) as hands:
        for rel in golden_inputs("hands_full")[:4]:
            g = load_golden("hands_full", rel)
            image, size = _image(rel)
            res = hands.process(image)
            if len(g["landmarks"]) == 0:
                assert res.multi_hand_landmarks is None and res.multi_handedness is None
                continue
            assert len(res.multi_hand_landmarks) == len(g["landmarks"])
            for lm, world, handed, ref, ref_world, label, score in zip(
                    res.multi_hand_landmarks, res.multi_hand_world_landmarks, res.multi_handedness,
                    g["landmarks"], g["world_landmarks"], g["handedness_label"], g["handedness_score"]):
                assert np.abs(_xy(lm, size) - ref[:, :2] * size).max() < 1e-3
                np.testing.assert_allclose([[p.x, p.y, p.z] for p in world.landmark], ref_world, atol=1e-5)
                c = handed.classification[0]
                assert c.label == str(label) and c.index == ("Left", "Right").index(str(label))
                assert abs(c.score - float(score)) < 1e-5
    assert mp.solutions.hands.HandLandmark.INDEX_FINGER_TIP == 8
    assert (0, 1) in mp.solutions.hands.HAND_CONNECTIONS and len(mp.solutions.hands.HAND_CONNECTIONS) == 21


def test_pose_matches_goldens_with_visibility_and_mask() -> None:
    rel = golden_inputs("pose")[0]
    g = load_golden("pose", rel)
    image, size = _image(rel)
    with mp.solutions.pose.Pose(static_image_mode=True, enable_segmentation=True) as pose:
        res = pose.process(image)
    pts = np.array([[p.x, p.y, p.z, p.visibility] for p in res.pose_landmarks.landmark], np.float32)
    np.testing.assert_allclose(pts, g["landmarks"][0] if g["landmarks"].ndim == 3 else g["landmarks"], atol=1e-5)
    assert all(p.HasField("visibility") and not p.HasField("presence") for p in res.pose_landmarks.landmark)
    assert res.segmentation_mask.shape == (size[1], size[0]) and res.segmentation_mask.dtype == np.float32
    assert len(res.pose_world_landmarks.landmark) == 33
    with mp.solutions.pose.Pose(static_image_mode=True) as pose:
        assert pose.process(image).segmentation_mask is None  # segmentation off
        empty = pose.process(np.zeros((200, 200, 3), np.uint8))
    assert empty.pose_landmarks is None and empty.pose_world_landmarks is None


def test_holistic_parts_and_selfie_mask() -> None:
    rel = golden_inputs("holistic")[0]
    g = load_golden("holistic", rel)
    image, size = _image(rel)
    with mp.solutions.holistic.Holistic(static_image_mode=True) as holistic:
        res = holistic.process(image)
    assert (res.face_landmarks is not None) == bool(g["face_present"])
    assert (res.left_hand_landmarks is not None) == bool(g["left_hand_present"])
    assert (res.right_hand_landmarks is not None) == bool(g["right_hand_present"])
    if res.face_landmarks is not None:
        assert np.abs(_xy(res.face_landmarks, size) - g["face_landmarks"][:, :2] * size).max() < _PIXEL_TOLERANCE
    rel = golden_inputs("selfie_segmentation")[0]
    g = load_golden("selfie_segmentation", rel)
    image, _ = _image(rel)
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        mask = seg.process(image).segmentation_mask
    assert mask.shape == g["mask"].shape
    assert ((mask > 0.5) != g["mask"]).mean() < 1e-3


def test_solution_input_errors_and_close() -> None:
    fm = mp.solutions.face_mesh.FaceMesh()
    with pytest.raises(ValueError, match="three channel rgb"):
        fm.process(np.zeros((10, 10, 4), np.uint8))
    fm.close()
    with pytest.raises(ValueError, match="closed"):
        fm.process(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(AttributeError, match="not implemented in facepipe.compat.*facepipe"):
        mp.solutions.face_mesh.SomethingElse  # noqa: B018
    with pytest.raises(AttributeError, match="objectron"):
        mp.solutions.objectron  # noqa: B018
    with pytest.raises(AttributeError, match="facepipe.graph"):
        mp.CalculatorGraph  # noqa: B018


# --------------------------------------------------------------------------- messages and drawing

def test_messages_behave_like_protobuf() -> None:
    from facepipe.compat.mediapipe.framework.formats import landmark_pb2

    lst = landmark_pb2.NormalizedLandmarkList()
    lst.landmark.add(x=0.5, y=0.25)
    lst.landmark.extend([landmark_pb2.NormalizedLandmark(x=1.0, y=0.1, z=-0.0338264592, visibility=0.9)])
    assert str(lst) == ("landmark {\n  x: 0.5\n  y: 0.25\n}\nlandmark {\n  x: 1\n  y: 0.1\n"
                        "  z: -0.0338264592\n  visibility: 0.9\n}\n")
    p = lst.landmark[0]
    assert p.z == 0.0 and not p.HasField("z") and p.HasField("x")
    with pytest.raises(AttributeError, match="fields: x, y, z, visibility, presence"):
        landmark_pb2.NormalizedLandmark(w=1)
    with pytest.raises(AttributeError, match="not implemented in facepipe.compat"):
        lst.SerializeToString()
    from facepipe.compat.mediapipe.framework.formats import detection_pb2, location_data_pb2

    loc = location_data_pb2.LocationData(format=2, relative_bounding_box={"xmin": 0.1})
    det = detection_pb2.Detection(score=[0.5], location_data=loc)
    loc.relative_bounding_box.xmin = 0.2  # the detection holds a copy, as protobuf's constructor makes
    assert str(det) == ("score: 0.5\nlocation_data {\n  format: RELATIVE_BOUNDING_BOX\n  relative_bounding_box {\n"
                        "    xmin: 0.1\n  }\n}\n")


def test_draw_landmarks_rejects_bad_connection_and_skips_hidden_points() -> None:
    from facepipe.compat.mediapipe.framework.formats import landmark_pb2

    du = mp.solutions.drawing_utils
    lst = landmark_pb2.NormalizedLandmarkList()
    lst.landmark.add(x=0.2, y=0.2)
    lst.landmark.add(x=0.8, y=0.8, visibility=0.1)  # hidden: below MediaPipe's 0.5 threshold
    image = np.zeros((50, 50, 3), np.uint8)
    with pytest.raises(ValueError, match="Invalid connection from landmark #0 to landmark #5"):
        du.draw_landmarks(image, lst, [(0, 5)])
    du.draw_landmarks(image, lst, [(0, 1)])
    assert image[10, 10].tolist() == [0, 0, 255]  # the visible point, in the default RED_COLOR (BGR as given)
    assert image[40, 40].tolist() == [0, 0, 0] and image[25, 25].tolist() == [0, 0, 0]  # no dot, no line


# --------------------------------------------------------------------------- Tasks API

def _landmarker(**kw):
    vision = mp.tasks.vision
    opts = vision.FaceLandmarkerOptions(
        base_options=mp.tasks.BaseOptions(model_asset_path=str(SHARED / "models" / "face_landmarker.task")), **kw)
    return vision.FaceLandmarker.create_from_options(opts)


def test_tasks_face_landmarker_matches_goldens() -> None:
    from facepipe.compat.mediapipe.tasks.python import vision as old_spelling

    assert old_spelling is mp.tasks.vision
    rel = "faces/pyfeat_single_face.jpg"
    g = load_golden("face_landmarker", rel)
    image, _ = _image(rel)
    with _landmarker(num_faces=5, output_face_blendshapes=True, output_facial_transformation_matrixes=True) as lm:
        res = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
    assert len(res.face_landmarks) == len(g["landmarks"]) == 1
    got = np.array([[p.x, p.y, p.z] for p in res.face_landmarks[0]], np.float32)
    np.testing.assert_array_equal(got, g["landmarks"][0])
    assert res.face_landmarks[0][0].visibility == 0.0 and res.face_landmarks[0][0].presence == 0.0
    cats = res.face_blendshapes[0]
    assert [c.category_name for c in cats] == g["blendshape_names"].tolist()
    np.testing.assert_allclose([c.score for c in cats], g["blendshapes"][0], atol=1e-5)
    m = res.facial_transformation_matrixes[0]
    assert m.dtype == np.float64 and m.shape == (4, 4)
    np.testing.assert_allclose(m, g["transformation_matrices"][0], atol=1e-3)
    assert repr(res).startswith("FaceLandmarkerResult(face_landmarks=[[NormalizedLandmark(x=")


def test_tasks_running_modes() -> None:
    image = mp.Image.create_from_file(str(data_file("faces/mp_sergey.png")))
    assert image.image_format == mp.ImageFormat.SRGBA and image.channels == 4
    with _landmarker() as lm:
        with pytest.raises(ValueError, match="video mode"):
            lm.detect_for_video(image, 0)
        assert len(lm.detect(image).face_landmarks) == 1
    RunningMode = mp.tasks.vision.RunningMode
    with _landmarker(running_mode=RunningMode.VIDEO) as lm:
        assert len(lm.detect_for_video(image, 0).face_landmarks) == 1
        with pytest.raises(ValueError, match="monotonically increasing"):
            lm.detect_for_video(image, 0)
    with pytest.raises(ValueError, match="result callback must be provided"):
        _landmarker(running_mode=RunningMode.LIVE_STREAM)
    got, done = [], threading.Event()

    def callback(result, output_image, timestamp_ms):  # noqa: ANN001
        got.append((len(result.face_landmarks), output_image.width, timestamp_ms))
        done.set()

    with _landmarker(running_mode=RunningMode.LIVE_STREAM, result_callback=callback) as lm:
        lm.detect_async(image, 5)
        assert done.wait(30)
    assert got == [(1, 600, 5)]


def test_tasks_face_detector_and_missing_model(tmp_path) -> None:
    vision = mp.tasks.vision
    det = vision.FaceDetector.create_from_model_path(str(SHARED / "models" / "blaze_face_short_range.tflite"))
    image, size = _image("faces/pyfeat_single_face.jpg")
    res = det.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
    assert len(res.detections) == 1
    d = res.detections[0]
    assert d.categories[0].index == 0 and d.categories[0].score > 0.8 and d.categories[0].category_name is None
    assert len(d.keypoints) == 6 and isinstance(d.bounding_box.origin_x, int)
    with pytest.raises(TypeError, match="mp.Image"):
        det.detect(image)
    det.close()
    with pytest.raises(RuntimeError, match="Unable to open file"):
        vision.FaceDetector.create_from_model_path(str(tmp_path / "nope.tflite"))


def test_tasks_hand_landmarker_reads_its_bundle(tmp_path) -> None:
    """No hand_landmarker.task is in the shared models: build one from the legacy files it is made of and
    check the Tasks facade against the legacy facade on the same models (plumbing, not MediaPipe parity)."""
    import zipfile

    from conftest import model_path

    bundle = tmp_path / "hand_landmarker.task"
    with zipfile.ZipFile(bundle, "w") as z:
        z.write(model_path("palm_detection_full"), "hand_detector.tflite")
        z.write(model_path("hand_landmark_full"), "hand_landmarks_detector.tflite")
    rel = golden_inputs("hands_full")[0]
    image, _ = _image(rel)
    vision = mp.tasks.vision
    opts = vision.HandLandmarkerOptions(base_options=mp.tasks.BaseOptions(model_asset_path=str(bundle)), num_hands=2)
    with vision.HandLandmarker.create_from_options(opts) as hl:
        res = hl.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2) as hands:
        ref = hands.process(image)
    assert len(res.hand_landmarks) == len(ref.multi_hand_landmarks) > 0
    for got, want, handed, want_handed in zip(res.hand_landmarks, ref.multi_hand_landmarks, res.handedness,
                                             ref.multi_handedness):
        assert [(p.x, p.y, p.z) for p in got] == [(p.x, p.y, p.z) for p in want.landmark]
        assert handed[0].category_name == want_handed.classification[0].label


def test_api_facts_match_mediapipe() -> None:
    """Enums, connection sets in MediaPipe's iteration (= drawing) order and the default drawing styles, as
    mediapipe 0.10.21 has them (recorded by tools/make_compat_goldens.py)."""
    import json
    from pathlib import Path

    facts = json.loads((Path(__file__).parent / "goldens" / "compat_programs.json").read_text())["api"]
    S = mp.solutions
    for name, e in (("HandLandmark", S.hands.HandLandmark), ("PoseLandmark", S.pose.PoseLandmark),
                    ("FaceKeyPoint", S.face_detection.FaceKeyPoint)):
        assert [[m.name, int(m)] for m in e] == facts["enums"][name]
    assert len(facts["sets"]) >= 20
    for key, edges in facts["sets"].items():
        module, name = key.split(".")
        got = getattr(getattr(S, module), name)
        assert isinstance(got, frozenset) and [list(c) for c in got] == edges, key

    ds = S.drawing_styles

    def spec(s):  # noqa: ANN001, ANN202
        return [list(s.color), s.thickness, s.circle_radius]

    def pairs(d):  # noqa: ANN001, ANN202
        return {f"{a},{b}": spec(v) for (a, b), v in d.items()}

    styles = facts["styles"]
    assert pairs(ds.get_default_face_mesh_contours_style(0)) == styles["contours0"]
    assert pairs(ds.get_default_face_mesh_contours_style(1)) == styles["contours1"]
    assert pairs(ds.get_default_face_mesh_iris_connections_style()) == styles["iris"]
    assert pairs(ds.get_default_hand_connections_style()) == styles["hand_connections"]
    assert spec(ds.get_default_face_mesh_tesselation_style()) == styles["tesselation"]
    assert {str(int(k)): spec(v) for k, v in ds.get_default_hand_landmarks_style().items()} == styles["hand_landmarks"]
    assert {str(int(k)): spec(v) for k, v in ds.get_default_pose_landmarks_style().items()} == styles["pose_landmarks"]
    assert spec(S.drawing_utils.DrawingSpec()) == styles["DrawingSpec"]
