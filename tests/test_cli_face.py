"""`facepipe detect` and `facepipe mesh`: outputs (JSON/CSV/NPZ), agreement with the API, errors."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as data_file

from facepipe.cli.main import main
from facepipe.io.image import read_image
from facepipe.jobs.schema import validate
from facepipe.solutions.face_detection import FACE_KEYPOINT_NAMES, FaceDetector
from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions


@pytest.fixture(autouse=True)
def _models() -> None:
    for name in ("face_detection_short_range", "face_landmark", "iris_landmark"):
        model_path(name)  # skip (or fail under CI) when a model is missing


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    shutil.copy(data_file("groups/tfjs_three_people.jpg"), d / "a_three.jpg")
    shutil.copy(data_file("faces/mp_sergey.png"), d / "b_sergey.png")
    blank = np.full((64, 80, 3), 200, np.uint8)
    import cv2

    cv2.imwrite(str(d / "c_blank.png"), blank)
    (d / "notes.txt").write_text("not an image")
    return d


def test_detect_image_json_matches_api(capsys) -> None:
    src = data_file("groups/tfjs_three_people.jpg")
    assert main(["detect", str(src)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["keypoint_names"] == list(FACE_KEYPOINT_NAMES) and doc["min_detection_confidence"] == 0.5
    assert not validate(doc)
    (entry,) = doc["inputs"]
    (frame,) = entry["frames"]
    det = FaceDetector().detect(read_image(src))
    assert entry["image_size"] == list(det.image_size) and len(frame["faces"]) == len(det) == 3
    for face, box, kps, score in zip(frame["faces"], det.xyxy, det.keypoints, det.scores):
        np.testing.assert_allclose(face["box"], box, atol=1e-3)
        assert face["score"] == pytest.approx(float(score), abs=1e-6)
        np.testing.assert_allclose(face["keypoints"], kps, atol=1e-3)


def test_detect_folder_csv_and_npz(image_dir, tmp_path) -> None:
    out_csv, out_npz = tmp_path / "faces.csv", tmp_path / "faces.npz"
    assert main(["detect", str(image_dir), "-o", str(out_csv)]) == 0
    rows = list(csv.DictReader(out_csv.open()))
    by_file: dict[str, list] = {}
    for r in rows:
        by_file.setdefault(r["path"].rsplit("/", 1)[-1], []).append(r)
    assert sorted(by_file) == ["a_three.jpg", "b_sergey.png", "c_blank.png"]  # the .txt is ignored
    assert len(by_file["a_three.jpg"]) == 3 and len(by_file["b_sergey.png"]) == 1
    assert by_file["c_blank.png"][0]["face"] == ""  # a row even without faces
    assert main(["detect", str(image_dir), "-o", str(out_npz), "--model", "full"]) == 0
    with np.load(out_npz) as z:
        assert z["paths"].shape == (3,) and z["boxes_xyxy"].shape[1:] == (4,)
        assert z["keypoints"].shape[1:] == (6, 2) and z["image_index"].tolist().count(0) >= 3
        assert z["image_sizes"].tolist()[2] == [80, 64]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic writes leave nothing


def test_detect_bad_inputs(image_dir, tmp_path, caplog) -> None:
    (image_dir / "d_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    assert main(["detect", str(image_dir)]) == 1
    assert "d_broken.jpg" in caplog.text
    assert main(["detect", str(image_dir), "--skip-bad", "-o", str(tmp_path / "x.json")]) == 0
    assert len(json.loads((tmp_path / "x.json").read_text())["inputs"]) == 3
    src = image_dir / "b_sergey.png"
    before = src.read_bytes()
    assert main(["detect", str(src), "-o", str(src)]) == 1  # never overwrite the input
    assert src.read_bytes() == before
    assert main(["detect", str(tmp_path / "missing.jpg")]) == 1
    assert main(["detect", str(src), "-f", "npz"]) == 2  # binary output needs a file: a usage error
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["detect", str(empty)]) == 1
    assert "missing.jpg" in caplog.text and "no image files" in caplog.text


def test_mesh_image_json_matches_api(capsys) -> None:
    src = data_file("faces/mp_sergey.png")
    assert main(["mesh", str(src), "--refine"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["num_landmarks"] == 478 and doc["coordinates"] == "normalized"
    ref = FaceMesh(FaceMeshOptions(static_image_mode=True, refine_landmarks=True)).process(read_image(src))
    assert not validate(doc)
    (face,) = doc["frames"][0]["faces"]
    np.testing.assert_allclose(face["landmarks"], ref.landmarks[0], atol=1e-5)
    assert main(["mesh", str(src), "--pixels", "-f", "csv"]) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0][:5] == ["frame", "timestamp_ms", "face", "presence", "x0"] and len(rows[0]) == 4 + 468 * 3
    ref468 = FaceMesh(FaceMeshOptions(static_image_mode=True)).process(read_image(src))
    np.testing.assert_allclose(np.array(rows[1][4:], float).reshape(468, 3), ref468.pixels[0], atol=0.01)


def test_mesh_video_outputs(tmp_path) -> None:
    src = data_file("videos/pyfeat_single_face.mp4")
    out = tmp_path / "mesh.npz"
    assert main(["mesh", str(src), "--max-frames", "8", "-o", str(out)]) == 0
    with np.load(out) as z:
        assert z["landmarks"].shape == (8, 468, 3)
        assert z["frame_index"].tolist() == list(range(8)) and z["track_ids"].tolist() == [0] * 8
        ts = z["timestamps_ms"]
        assert ts.shape == (8,) and np.all(np.diff(ts) > 30) and ts[0] == 0  # the file's own 30 fps clock
    out_json = tmp_path / "mesh.json"
    assert main(["mesh", str(src), "--max-frames", "3", "--max-faces", "2", "-o", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    assert [f["frame"] for f in doc["frames"]] == [0, 1, 2] and doc["image_size"] == [640, 360]
    assert all(len(f["faces"]) == 1 for f in doc["frames"]) and not validate(doc)


def test_mesh_bad_inputs(tmp_path, caplog) -> None:
    assert main(["mesh", str(tmp_path / "nope.mp4")]) == 1
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["mesh", str(bad)]) == 1
    with pytest.raises(SystemExit) as usage:  # argparse checks the range: a usage error
        main(["mesh", str(data_file("faces/mp_sergey.png")), "--max-num-faces", "0"])
    assert usage.value.code == 2
    assert "nope.mp4" in caplog.text and "bad.png" in caplog.text
