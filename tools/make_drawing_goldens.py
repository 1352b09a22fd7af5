"""Render official MediaPipe drawing_utils output as golden PNGs for facepipe's drawing tests.

Run in the side venv that has mediapipe==0.10.21 (never import mediapipe from facepipe):

    .venv-ref/bin/python tools/make_drawing_goldens.py

For each case it runs the official solution on a shared test image, stores the
landmarks exactly as MediaPipe returned them (float32 values, written as the
doubles Python sees) in tests/goldens/drawing/cases.json, and draws them with
the official drawing_utils / drawing_styles on a black canvas the size of the
image. Non-anti-aliased cv2 drawing overwrites pixels without reading them, so
a canvas holds exactly the pixels the drawing would put on the photo while
keeping the PNGs tiny.

It also runs the Tasks FaceLandmarker (blendshapes + facial transformation
matrices) and stores a few canonical-face-model vertices, so the head-pose
projection and the plots can be tested on real outputs.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPIPE_SHARED", REPO.parent / "shared")).resolve()
TESTDATA = SHARED / "testdata"
OUT = REPO / "tests" / "goldens" / "drawing"

# Canonical-model vertices stored for the head-pose test: nose tip, eye corners, mouth corners, chin.
CANONICAL_IDS = (1, 4, 33, 133, 263, 362, 61, 291, 152, 10)


def _read_rgb(rel: str) -> np.ndarray:
    bgr = cv2.imread(str(TESTDATA / rel), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"cannot read {TESTDATA / rel}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _landmark_list(lms) -> dict:
    pts = list(lms.landmark)
    out = {"x": [p.x for p in pts], "y": [p.y for p in pts], "z": [p.z for p in pts]}
    # drawing_utils only thresholds a field that is set, so record whether it is.
    out["visibility"] = [p.visibility for p in pts] if all(p.HasField("visibility") for p in pts) else None
    out["presence"] = [p.presence for p in pts] if all(p.HasField("presence") for p in pts) else None
    if any(p.HasField("visibility") for p in pts) and out["visibility"] is None:
        raise SystemExit("mixed visibility fields are not supported by the golden format")
    return out


def _canvas(rgb: np.ndarray) -> np.ndarray:
    return np.zeros_like(rgb)


def _save_png(name: str, bgr: np.ndarray) -> str:
    path = OUT / f"{name}.png"
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise SystemExit(f"PNG encoding failed for {name}")
    path.write_bytes(buf.tobytes())
    return path.name


def make_cases() -> tuple[list[dict], dict]:
    import mediapipe as mp
    from mediapipe.python.solutions import drawing_styles as ds
    from mediapipe.python.solutions import drawing_utils as du

    fm = mp.solutions.face_mesh
    cases: list[dict] = []

    def face_mesh_case(name: str, rel: str, max_faces: int, variant: int = 0,
                       layers=("tess", "cont", "iris")):
        rgb = _read_rgb(rel)
        with fm.FaceMesh(static_image_mode=True, max_num_faces=max_faces, refine_landmarks=True) as sol:
            res = sol.process(rgb)
        faces = res.multi_face_landmarks or []
        canvas = _canvas(rgb)
        for f in faces:
            if "tess" in layers:
                du.draw_landmarks(canvas, f, fm.FACEMESH_TESSELATION, landmark_drawing_spec=None,
                                  connection_drawing_spec=ds.get_default_face_mesh_tesselation_style())
            if "cont" in layers:
                du.draw_landmarks(canvas, f, fm.FACEMESH_CONTOURS, landmark_drawing_spec=None,
                                  connection_drawing_spec=ds.get_default_face_mesh_contours_style(variant))
            if "iris" in layers:
                du.draw_landmarks(canvas, f, fm.FACEMESH_IRISES, landmark_drawing_spec=None,
                                  connection_drawing_spec=ds.get_default_face_mesh_iris_connections_style())
        cases.append({"name": name, "kind": "face_mesh", "image": rel, "size": [rgb.shape[1], rgb.shape[0]],
                      "contour_variant": variant, "layers": list(layers),
                      "instances": [_landmark_list(f) for f in faces], "png": _save_png(name, canvas)})

    face_mesh_case("face_mesh_sergey", "faces/mp_sergey.png", 1)
    face_mesh_case("face_mesh_multi", "groups/tfjs_three_people.jpg", 5)
    face_mesh_case("face_contours1_sergey", "faces/mp_sergey.png", 1, variant=1, layers=("cont",))

    # Hands, default per-finger styles.
    for name, rel in (("hands_tfjs", "hands/tfjs_hands.jpg"),
                      ("hands_four", "hands/gesture_four/mp_105f8f8e.jpg")):
        rgb = _read_rgb(rel)
        with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2) as sol:
            res = sol.process(rgb)
        hands = res.multi_hand_landmarks or []
        canvas = _canvas(rgb)
        for h in hands:
            du.draw_landmarks(canvas, h, mp.solutions.hands.HAND_CONNECTIONS,
                              ds.get_default_hand_landmarks_style(), ds.get_default_hand_connections_style())
        labels = [c.classification[0].label for c in (res.multi_handedness or [])]
        cases.append({"name": name, "kind": "hands", "image": rel, "size": [rgb.shape[1], rgb.shape[0]],
                      "handedness": labels, "instances": [_landmark_list(h) for h in hands],
                      "png": _save_png(name, canvas)})

    # Pose: a full body; an upper body whose legs leave the image; and a street scene whose
    # occluded points lie inside the image with visibility < 0.5 (exercises the threshold).
    for name, rel in (("pose_warrior", "pose/tfjs_pose_yoga_warrior.jpg"),
                      ("pose_tennis", "pose/tfjs_posenet_tennis_standing.jpg"),
                      ("pose_occluded", "pose/coco_000000040083.jpg")):
        rgb = _read_rgb(rel)
        with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as sol:
            res = sol.process(rgb)
        canvas = _canvas(rgb)
        inst = []
        if res.pose_landmarks:
            du.draw_landmarks(canvas, res.pose_landmarks, mp.solutions.pose.POSE_CONNECTIONS,
                              landmark_drawing_spec=ds.get_default_pose_landmarks_style())
            inst.append(_landmark_list(res.pose_landmarks))
        cases.append({"name": name, "kind": "pose", "image": rel, "size": [rgb.shape[1], rgb.shape[0]],
                      "instances": inst, "png": _save_png(name, canvas)})

    # Face detection boxes + keypoints.
    rel = "groups/tfjs_three_people.jpg"
    rgb = _read_rgb(rel)
    with mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5) as sol:
        res = sol.process(rgb)
    canvas = _canvas(rgb)
    dets = []
    for d in res.detections or []:
        du.draw_detection(canvas, d)
        bb = d.location_data.relative_bounding_box
        dets.append({"xmin": bb.xmin, "ymin": bb.ymin, "width": bb.width, "height": bb.height,
                     "keypoints": [[k.x, k.y] for k in d.location_data.relative_keypoints],
                     "score": d.score[0]})
    cases.append({"name": "detection_three", "kind": "detection", "image": rel,
                  "size": [rgb.shape[1], rgb.shape[0]], "detections": dets,
                  "png": _save_png("detection_three", canvas)})

    # Holistic: face tessellation, pose and both hands, as in MediaPipe's holistic example.
    rel = "pose/tfjs_posenet_tennis_standing.jpg"
    rgb = _read_rgb(rel)
    with mp.solutions.holistic.Holistic(static_image_mode=True, refine_face_landmarks=True) as sol:
        res = sol.process(rgb)
    canvas = _canvas(rgb)
    parts = {}
    if res.face_landmarks:
        du.draw_landmarks(canvas, res.face_landmarks, fm.FACEMESH_TESSELATION, landmark_drawing_spec=None,
                          connection_drawing_spec=ds.get_default_face_mesh_tesselation_style())
        parts["face"] = _landmark_list(res.face_landmarks)
    if res.pose_landmarks:
        du.draw_landmarks(canvas, res.pose_landmarks, mp.solutions.holistic.POSE_CONNECTIONS,
                          landmark_drawing_spec=ds.get_default_pose_landmarks_style())
        parts["pose"] = _landmark_list(res.pose_landmarks)
    for side in ("left_hand", "right_hand"):
        lms = getattr(res, f"{side}_landmarks")
        if lms:
            du.draw_landmarks(canvas, lms, mp.solutions.holistic.HAND_CONNECTIONS,
                              ds.get_default_hand_landmarks_style(), ds.get_default_hand_connections_style())
            parts[side] = _landmark_list(lms)
    cases.append({"name": "holistic_tennis", "kind": "holistic", "image": rel,
                  "size": [rgb.shape[1], rgb.shape[0]], "parts": parts,
                  "png": _save_png("holistic_tennis", canvas)})

    return cases, {"mediapipe": mp.__version__, "opencv": cv2.__version__}


def tasks_face_landmarker() -> dict:
    """Blendshapes and transformation matrices from the Tasks FaceLandmarker, plus canonical vertices."""
    import mediapipe as mp
    from mediapipe.modules.face_geometry.protos import geometry_pipeline_metadata_pb2
    from mediapipe.tasks.python import BaseOptions, vision

    task = SHARED / "models" / "face_landmarker.task"
    with zipfile.ZipFile(task) as zf:
        meta = geometry_pipeline_metadata_pb2.GeometryPipelineMetadata()
        meta.ParseFromString(zf.read("geometry_pipeline_metadata_landmarks.binarypb"))
    vb = np.asarray(meta.canonical_mesh.vertex_buffer, np.float32).reshape(-1, 5)
    canonical = {str(i): vb[i, :3].astype(float).tolist() for i in CANONICAL_IDS}

    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(task)), num_faces=2,
                                        output_face_blendshapes=True,
                                        output_facial_transformation_matrixes=True)
    out = []
    with vision.FaceLandmarker.create_from_options(opts) as lm:
        for rel in ("faces/mp_sergey.png", "faces/if_pose_left_face.jpeg", "faces/if_pose_left_wryneck.png"):
            rgb = _read_rgb(rel)
            res = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
            faces = []
            for lms, bs, mat in zip(res.face_landmarks, res.face_blendshapes,
                                    res.facial_transformation_matrixes, strict=True):
                faces.append({
                    "landmarks": [[p.x, p.y, p.z] for p in lms],
                    "blendshape_names": [c.category_name for c in bs],
                    "blendshapes": [c.score for c in bs],
                    "matrix": np.asarray(mat, np.float64).tolist(),
                })
            out.append({"image": rel, "size": [rgb.shape[1], rgb.shape[0]], "faces": faces})
    return {"canonical_vertices": canonical, "images": out}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    cases, versions = make_cases()
    data = {
        "generated_by": "tools/make_drawing_goldens.py",
        "versions": {**versions, "python": platform.python_version()},
        "canvas": "black, image size; PNGs are BGR as drawn by MediaPipe",
        "cases": cases,
        "face_landmarker": tasks_face_landmarker(),
    }
    text = json.dumps(data, separators=(",", ":"))
    target = OUT / "cases.json"
    fd, tmp = tempfile.mkstemp(dir=OUT, suffix=".tmp")
    with open(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    for c in cases:
        n = len(c.get("instances", c.get("detections", c.get("parts", []))))
        print(f"{c['name']}: {n} instance(s) -> {c['png']}", file=sys.stderr)
    print(f"total {total / 1e6:.2f} MB in {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
