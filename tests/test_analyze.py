"""`facepipe analyze` end to end on shared test data: images, a video with audio, a folder with a bad file."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.cli.main import main
from facepipe.jobs import ExecutionOptions
from facepipe.jobs.schema import validate


@pytest.fixture(autouse=True)
def _models() -> None:
    for name in ("face_landmarker", "face_landmarks_detector", "blaze_face_short_range", "face_blendshapes"):
        model_path(name)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_image_outputs(tmp_path) -> None:
    src = tmp_path / "in" / "sergey.png"
    src.parent.mkdir()
    shutil.copy(shared_file("faces/mp_sergey.png"), src)
    before = _sha(src)
    out = tmp_path / "out"
    assert main(["-q", "analyze", str(src), "-o", str(out)]) == 0
    assert _sha(src) == before
    annotated = cv2.imread(str(out / "sergey.annotated.png"))
    original = cv2.imread(str(src))
    assert annotated.shape == original.shape
    assert (annotated != original).any(axis=2).mean() > 0.05  # the mesh covers a good part of the face
    data = json.loads((out / "sergey.json").read_text())
    assert not validate(data)
    (frame,) = data["frames"]
    faces = frame["faces"]
    assert data["kind"] == "image" and (frame["frame"], frame["timestamp_ms"]) == (0, 0) and len(faces) == 1
    assert np.array(faces[0]["landmarks"]).shape == (478, 3)
    assert len(faces[0]["blendshapes"]) == 52 and faces[0]["blendshapes"]["mouthSmileLeft"] > 0.5
    assert np.array(faces[0]["transformation_matrix"]).shape == (4, 4)
    chart = cv2.imread(str(out / "sergey.blendshapes.png"))
    assert chart is not None and chart.std() > 5


def test_next_to_input_by_default_and_hands(tmp_path) -> None:
    model_path("palm_detection_full")
    src = tmp_path / "call.jpg"
    shutil.copy(shared_file("hands/gesture_call/mp_044768ad.jpg"), src)
    assert main(["-q", "analyze", str(src), "--hands", "--no-charts"]) == 0
    data = json.loads((tmp_path / "call.json").read_text())
    assert not validate(data) and len(data["frames"][0]["hands"]["hands"]) >= 1
    assert (tmp_path / "call.annotated.jpg").is_file()
    assert not (tmp_path / "call.blendshapes.png").exists()


def _audio_payload(path) -> tuple[str, bytes]:
    import av

    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        data = b"".join(bytes(p) for p in c.demux(stream) if p.size)
        return stream.codec_context.name, data


def test_video_keeps_size_rate_frames_and_audio(tmp_path) -> None:
    pytest.importorskip("av")
    from facepipe.io.video import probe_video

    src = shared_file("videos/pyfeat_single_face.mp4")
    out = tmp_path / "out"
    assert main(["-q", "analyze", str(src), "-o", str(out), "--num-faces", "1"]) == 0
    a, b = probe_video(src), probe_video(out / "pyfeat_single_face.annotated.mp4")
    assert (b.width, b.height, b.fps) == (a.width, a.height, a.fps)
    assert b.frame_count == a.frame_count == 72
    assert _audio_payload(out / "pyfeat_single_face.annotated.mp4") == _audio_payload(src)  # copied, not re-encoded
    data = json.loads((out / "pyfeat_single_face.json").read_text())
    assert data["frame_count"] == 72 and len(data["frames"]) == 72
    assert not validate(data)
    assert sum(len(f["faces"]) == 1 for f in data["frames"]) >= 70
    assert (out / "pyfeat_single_face.blendshapes.png").is_file()


def test_folder_with_a_bad_file_reports_it_and_carries_on(tmp_path, caplog) -> None:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(shared_file("faces/tfjs_depth_portrait.jpg"), folder / "sub" / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (folder / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.ERROR, logger="facepipe"):
        assert main(["analyze", str(folder), "--no-charts"]) == 1
    out = tmp_path / "photos_analysis"  # default for a folder: a sibling
    assert (out / "sub" / "good.annotated.jpg").is_file() and (out / "sub" / "good.json").is_file()
    assert not list(out.glob("broken*"))
    errors = " ".join(r.getMessage() for r in caplog.records)
    assert "broken.jpg" in errors and "1 of 2" in errors


def test_usage_errors(tmp_path, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="facepipe"):
        assert main(["analyze", str(tmp_path / "missing.jpg")]) == 1
    assert "missing.jpg" in caplog.text
    (tmp_path / "empty").mkdir()
    assert main(["analyze", str(tmp_path / "empty")]) == 1


def test_pose_option(tmp_path) -> None:
    model_path("pose_detection")
    model_path("pose_landmark_full")
    src = tmp_path / "warrior.jpg"
    shutil.copy(shared_file("pose/tfjs_pose_yoga_warrior.jpg"), src)
    assert main(["-q", "analyze", str(src), "--pose", "--no-charts"]) == 0
    data = json.loads((tmp_path / "warrior.json").read_text())
    assert (tmp_path / "warrior.annotated.jpg").is_file()
    assert not validate(data)
    poses = data["frames"][0]["pose"]["poses"]
    assert len(poses) == 1 and len(poses[0]["landmarks"]) == 33


def test_video_graph_gives_what_one_frame_after_another_gives(tmp_path) -> None:
    pytest.importorskip("av")
    from facepipe.apps.analyze import AnalyzeOptions, analyze_video
    from facepipe.io.video import VideoReader

    src = shared_file("videos/pyfeat_single_face.mp4")
    reports = {w: analyze_video(src, tmp_path / f"w{w}", AnalyzeOptions(num_faces=1, charts=False,
                                                                      execution=ExecutionOptions(w)))
               for w in (1, 2)}
    assert reports[1].frames == reports[2].frames == 72 and reports[1].faces == reports[2].faces == 1
    seq, graph = (json.loads((tmp_path / f"w{w}" / "pyfeat_single_face.json").read_text()) for w in (1, 2))
    assert graph == seq  # every landmark, blendshape and matrix, frame by frame
    with VideoReader(tmp_path / "w1" / "pyfeat_single_face.annotated.mp4") as a, \
            VideoReader(tmp_path / "w2" / "pyfeat_single_face.annotated.mp4") as b:
        pairs = list(zip(a, b, strict=True))
    assert len(pairs) == 72
    assert all(x.pts == y.pts and np.array_equal(x.image, y.image) for x, y in pairs)


def test_video_failure_in_the_graph_names_the_file_and_leaves_no_video(tmp_path, monkeypatch) -> None:
    import facepipe.apps.analyze as analyze

    def broken(self, image, timestamp_ms):
        if timestamp_ms > 500:
            raise RuntimeError("injected landmarker failure")
        return real(self, image, timestamp_ms)

    real = analyze._Solutions.run
    monkeypatch.setattr(analyze._Solutions, "run", broken)
    src = tmp_path / "clip.mp4"
    shutil.copy(shared_file("videos/pyfeat_single_face.mp4"), src)
    options = analyze.AnalyzeOptions(execution=ExecutionOptions(2))
    (report,) = analyze.analyze_inputs([(src, Path("."))], tmp_path / "out", options)
    # As anonymize says it: the file, the frame's time, the stage's error (jobs.graph_error).
    assert report.error == (f"{src}: processing failed at the frame at 0.533 s (RuntimeError: injected landmarker"
                            " failure); no output was written")
    assert not list((tmp_path / "out").glob("*"))  # no partial video, no JSON


def test_inputs_sharing_an_output_name_are_not_overwritten(tmp_path) -> None:
    """x.jpg and x.png would both write x.json: each keeps its extension in its outputs' names."""
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(shared_file("faces/tfjs_depth_portrait.jpg"), folder / "x.jpg")
    cv2.imwrite(str(folder / "x.png"), cv2.imread(str(shared_file("faces/mp_sergey.png"))))
    assert main(["analyze", str(folder), "--no-charts"]) == 0
    out = tmp_path / "photos_analysis"
    for name in ("x.jpg", "x.png"):
        stem = name.replace(".", "_")
        doc = json.loads((out / f"{stem}.json").read_text())
        assert Path(doc["input"]).name == name
        assert (out / f"{stem}.annotated{Path(name).suffix}").is_file()
    assert not (out / "x.json").exists()
