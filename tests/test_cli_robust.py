"""Defects of issue 14, each pinned by a test: short videos with audio, error hints, Live-Photo pairs,
tracebacks, option ranges, noise, silent format loss."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from clitools import cli, run_cli
from conftest import testdata_file as shared_file
from mediafiles import fake_camera, make_clip, png_claiming_size

from facepipe.cli.main import build_parser, main
from facepipe.errors import FacepipeError, InputError, ModelError

REPO = Path(__file__).resolve().parents[1]


def audio_packet_count(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(*c.streams.audio) if p.size)


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_short_videos_with_audio_are_written_and_a_bad_file_does_not_stop_the_batch(tmp_path):
    pytest.importorskip("av")
    folder = tmp_path / "in"
    folder.mkdir()
    for n in (1, 2, 6):  # --max-frames 2 stops the 6-frame clip early too
        make_clip(folder / f"clip{n}.mp4", n=n, audio=True)
    (folder / "broken.mp4").write_bytes(b"\0\0\0\x18ftypmp42" + b"x" * 50)
    out = tmp_path / "out"
    res = run_cli("anonymize", str(folder), "-o", str(out), "--max-frames", "2", "--no-progress")
    assert res.returncode == 1, res.stderr  # one file failed; not a crash (negative) and not 0
    assert "Traceback" not in res.stderr
    assert "broken.mp4" in res.stderr
    for n in (1, 2, 6):
        dst = out / f"clip{n}.mp4"
        assert frame_count(dst) == min(n, 2)
        assert audio_packet_count(dst) > 0
    assert not list(tmp_path.rglob("*.part*")), list(tmp_path.rglob("*"))
    assert not (out / "broken.mp4").exists()


def test_max_frames_gives_the_same_file_in_a_graph_and_one_frame_after_another(tmp_path):
    """The graph's decoder reads ahead differently from the sequential run: the copy still ends its
    audio with its last frame, so both runs (and a Ray worker, which runs sequentially) write one file."""
    pytest.importorskip("av")
    src = shared_file("videos/lp_d20_talking.mp4")  # 25 fps, AAC
    outs = []
    for workers in ("1", "2"):
        dst = tmp_path / f"w{workers}.mp4"
        res = run_cli("anonymize", str(src), "-o", str(dst), "--max-frames", "12", "--workers", workers,
                      "--no-progress")
        assert res.returncode == 0, res.stderr
        outs.append(dst)
    assert frame_count(outs[0]) == 12
    assert 0 < audio_packet_count(outs[0]) < audio_packet_count(src)
    assert outs[0].read_bytes() == outs[1].read_bytes()


# --------------------------------------------------------------------------- 3: hints name real commands

def _commands_named(text: str) -> list[str]:
    return re.findall(r"`(facepipe [^`]+)`", text)


def _parses(command: str) -> bool:
    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit:
        return False
    return True


@pytest.mark.parametrize("command", ["anonymize", "detect", "mesh", "pose"])
def test_without_models_the_error_names_a_command_that_exists(command, tmp_path, monkeypatch, capsys, caplog):
    empty = tmp_path / "models"
    empty.mkdir()
    monkeypatch.setenv("FACEPIPE_MODEL_PATH", str(empty))
    monkeypatch.setenv("FACEPIPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEPIPE_ALLOW_DOWNLOAD", raising=False)
    photo = shared_file("faces/mp_sergey.png")
    code, err = cli([command, str(photo), "-o", str(tmp_path / ("out.png" if command == "anonymize" else "out.json"))],
                    capsys, caplog)
    assert code == 1
    assert "Traceback" not in err and "--allow-download" not in err
    hints = _commands_named(err)
    assert hints and all(_parses(h) for h in hints), hints
    assert any(h.startswith("facepipe models pull ") for h in hints)


def test_readme_commands_exist():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    commands = [m.group(1).strip() for block in blocks for line in block.splitlines()
                if (m := re.search(r"(?:^|bin/|&&\s+)(facepipe [^#&|]+)", line.split("#")[0]))]
    assert any("models pull" in c for c in commands)  # a user without ../shared is told to pull
    for c in commands:
        assert _parses(c), c


# --------------------------------------------------------------------------- 4: Live-Photo pairs

def test_live_photo_pair_keeps_both_results(tmp_path):
    pytest.importorskip("av")
    folder = tmp_path / "iphone"
    folder.mkdir()
    shutil.copy(shared_file("faces/mp_sergey.png"), folder / "IMG_1.PNG")
    make_clip(folder / "IMG_1.MOV", n=3, size=(96, 64))
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "--no-charts", "--workers", "1", "--no-progress"]) == 0
    photo = json.loads((out / "IMG_1_PNG.json").read_text())
    video = json.loads((out / "IMG_1_MOV.json").read_text())
    assert photo["kind"] == "image" and len(photo["frames"][0]["faces"]) == 1
    assert video["kind"] == "video" and video["frame_count"] == 3
    assert (out / "IMG_1_PNG.annotated.png").is_file() and (out / "IMG_1_MOV.annotated.mov").is_file()


# --------------------------------------------------------------------------- 5: no tracebacks, usage errors exit 2

@pytest.mark.parametrize("command", ["detect", "mesh", "landmarks"])
def test_unwritable_output_is_one_line(command, tmp_path, capsys, caplog):
    taken = tmp_path / "a_folder.json"
    taken.mkdir()  # an output path that cannot be written, also for root
    code, err = cli([command, str(shared_file("faces/mp_sergey.png")), "-o", str(taken)], capsys, caplog)
    assert code == 1
    assert "Traceback" not in err and str(taken) in err and "cannot write" in err
    assert [p.name for p in tmp_path.iterdir()] == ["a_folder.json"]  # no temp file left


def test_model_load_error_is_a_facepipe_error(tmp_path):
    from facepipe.runtime.model import Model, ModelLoadError

    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(ModelLoadError) as err:
        Model(bad)
    assert isinstance(err.value, ModelError) and isinstance(err.value, FacepipeError) and err.value.exit_code == 1
    assert isinstance(err.value, RuntimeError)  # still caught by older `except RuntimeError`


# --------------------------------------------------------------------------- 6: every option checked once

@pytest.mark.parametrize("argv, says", [
    (["anonymize", "X", "--crf", "99"], "0..63"),
    (["anonymize", "X", "--crf", "55"], "0..51 for libx264"),
    (["anonymize", "X", "--preset", "bogus"], "preset must be one of"),
    (["anonymize", "X", "--pix-fmt", "bogus"], "not a pixel format"),
    (["anonymize", "X", "--max-frames", "-1"], ">= 1"),
    (["anonymize", "X", "--min-detection-confidence", "1.5"], "0.0..1.0"),
    (["anonymize", "X", "--thresh", "-0.1"], "0.0..1.0"),
    (["anonymize", "X", "--quality", "0"], "1..100"),
    (["anonymize", "X", "--method", "image"], "--replace-with"),
    (["segment", "X", "--threshold", "2"], "0.0..1.0"),
    (["mesh", "X", "--max-num-faces", "0"], ">= 1"),
    (["detect", "X", "--min-score", "3"], "0.0..1.0"),
    (["analyze", "X", "--crf", "-3"], "0..51"),
    (["hands", "X", "--max-num-hands", "0"], ">= 1"),
])
def test_bad_options_are_usage_errors_with_their_range(argv, says, tmp_path, capsys, caplog):
    argv = [str(shared_file("faces/mp_sergey.png")) if a == "X" else a for a in argv]
    code, err = cli(argv, capsys, caplog)
    assert code == 2
    assert says in err and "Traceback" not in err
    assert "cannot write audio" not in err


def test_bad_encoder_option_is_reported_as_such(tmp_path, capsys, caplog):
    pytest.importorskip("av")
    src = tmp_path / "clip.mp4"
    make_clip(src, n=3, audio=True)
    code, err = cli(["anonymize", str(src), "-o", str(tmp_path / "out.mp4"), "--codec", "mpeg4", "--pix-fmt", "nv12"],
                    capsys, caplog)
    assert code == 1 and "cannot write audio" not in err and "mpeg4" in err
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


# --------------------------------------------------------------------------- 7: noise

def test_quiet_anywhere_silences_everything_but_errors(tmp_path):
    pytest.importorskip("av")
    src = tmp_path / "clip.mp4"
    make_clip(src, n=3, audio=True)
    res = run_cli("anonymize", str(src), "-o", str(tmp_path / "out.mp4"), "-q")  # graph run: threads open models
    assert res.returncode == 0 and res.stderr == "", res.stderr
    res = run_cli("anonymize", str(src), "-o", str(tmp_path / "out2.mp4"), "--no-progress")
    assert res.returncode == 0 and "TensorFlow Lite" not in res.stderr, res.stderr
    assert "1 of 1 files anonymized" in res.stderr  # what is not chatter still shows


def test_verbose_after_the_subcommand(tmp_path, caplog):
    caplog.set_level("DEBUG")
    out = tmp_path / "d.json"
    assert main(["detect", str(shared_file("faces/mp_sergey.png")), "-o", str(out), "-v"]) == 0
    assert f"wrote {out}" in caplog.text
    args = build_parser().parse_args(["-v", "detect", "x.jpg"])
    assert args.verbose == 1 and args.quiet is False  # before the subcommand: not reset by it
    args = build_parser().parse_args(["detect", "x.jpg", "-q"])
    assert args.quiet is True and args.verbose == 0


def test_huge_image_is_refused_from_its_header(tmp_path):
    from facepipe.io.image import read_image

    bomb = png_claiming_size(tmp_path / "bomb.png", 20000, 20000)  # 400 MP in 100 bytes
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail the test
        with pytest.raises(InputError, match=r"bomb.png: image too large \(.*megapixels"):
            read_image(bomb)


# --------------------------------------------------------------------------- 8: silent format loss

def test_alpha_is_kept_and_16_bit_is_announced(tmp_path, caplog):
    import cv2

    rgb = cv2.imread(str(shared_file("faces/mp_sergey.png")), cv2.IMREAD_COLOR)
    h, w = rgb.shape[:2]
    alpha = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    cv2.imwrite(str(tmp_path / "cutout.png"), np.dstack([rgb, alpha]))
    cv2.imwrite(str(tmp_path / "deep.png"), rgb.astype(np.uint16) * 257)
    assert main(["anonymize", str(tmp_path / "cutout.png"), str(tmp_path / "deep.png"), "--no-progress"]) == 0
    out = cv2.imread(str(tmp_path / "cutout_anonymized.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (h, w, 4)
    np.testing.assert_array_equal(out[..., 3], alpha)
    assert (out[..., :3] != rgb).any()  # the face is still hidden
    assert "deep.png: 16-bit samples are written as 8-bit" in caplog.text


def test_tampered_cached_model_is_refused(tmp_path):
    from facepipe.runtime.store import CorruptModelError, ModelStore

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(shared_file("../models/face_landmarker.task"), models)
    store = ModelStore(model_path=[models], cache_dir=tmp_path / "cache")
    member = store.resolve("face_detector")  # unpacked from the bundle into the cache
    assert member.parent == tmp_path / "cache"
    data = bytearray(member.read_bytes())
    data[100] ^= 1
    member.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match="face_detector.tflite fails its check"):
        ModelStore(model_path=[models], cache_dir=tmp_path / "cache").resolve("face_detector")


# --------------------------------------------------------------------------- one vocabulary, old spellings kept

@pytest.mark.parametrize("argv, dest, value", [
    (["analyze", "x.jpg", "--num-faces", "2"], "max_num_faces", 2),
    (["landmarks", "x.jpg", "--num-faces", "3"], "max_num_faces", 3),
    (["mesh", "x.jpg", "--max-faces", "2"], "max_num_faces", 2),
    (["hands", "x.jpg", "--max-hands", "1"], "max_num_hands", 1),
    (["detect", "x.jpg", "--min-score", "0.7"], "min_detection_confidence", 0.7),
    (["anonymize", "x.jpg", "--thresh", "0.4"], "min_detection_confidence", 0.4),
])
def test_old_spellings_are_hidden_aliases(argv, dest, value):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    assert args.deprecated_options and argv[2] in args.deprecated_options[0]
    new = build_parser().parse_args(argv[:2])
    assert not getattr(new, "deprecated_options", None)


def test_old_spelling_warns_and_new_one_does_not(tmp_path, capsys, caplog):
    photo = shared_file("faces/mp_sergey.png")
    code, text = cli(["mesh", photo, "--max-faces", "2", "-o", tmp_path / "a.json"], capsys, caplog)
    assert code == 0 and "--max-faces is deprecated" in text and "--max-num-faces" in text
    code, text = cli(["mesh", photo, "--max-num-faces", "2", "-o", tmp_path / "b.json"], capsys, caplog)
    assert code == 0 and "deprecated" not in text
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())


@pytest.mark.parametrize("command", ["analyze", "anonymize", "detect", "mesh", "landmarks", "hands", "pose",
                                     "holistic", "segment"])
def test_every_media_command_takes_a_camera(command, capsys, caplog):
    """--camera N everywhere; without a camera here, the error is one line naming the device."""
    code, text = cli([command, "--camera", "7", "-o", "cam.mp4" if command == "anonymize" else "x.json"],
                     capsys, caplog)
    assert code in (1, 2) and "Traceback" not in text
    assert "camera 7" in text or "--camera" in text


# --------------------------------------------------------------------------- one JSON schema

@pytest.mark.parametrize("command", ["detect", "mesh", "landmarks", "hands", "pose", "holistic", "segment"])
def test_every_command_writes_the_one_json_schema(command, tmp_path, capsys, caplog):
    from facepipe.jobs.schema import SCHEMA, validate

    faces = command in ("detect", "mesh", "landmarks")
    photo = tmp_path / "photo.json"
    code, text = cli([command, shared_file("faces/mp_sergey.png"), "-o", photo], capsys, caplog)
    assert code == 0, text
    doc = json.loads(photo.read_text())
    assert doc["schema"] == SCHEMA and doc["command"] == command and validate(doc, faces=faces) == []
    frames = doc["inputs"][0]["frames"] if command == "detect" else doc["frames"]
    assert [(f["frame"], f["timestamp_ms"]) for f in frames] == [(0, 0)]  # a photo: frame 0 at 0 ms
    if faces:
        assert len(frames[0]["faces"]) == 1 and frames[0]["faces"][0]["score"] > 0.5
    if command == "detect":
        return
    clip = tmp_path / "clip.mp4"
    make_clip(clip, n=3, size=(96, 64))
    code, text = cli([command, clip, "-o", tmp_path / "video.json"], capsys, caplog)
    assert code == 0, text
    doc = json.loads((tmp_path / "video.json").read_text())
    assert validate(doc, faces=faces) == [] and [f["timestamp_ms"] for f in doc["frames"]] == [0, 100, 200]


def test_schema_validator_finds_what_is_wrong():
    from facepipe.jobs.schema import SCHEMA, validate

    good = {"schema": SCHEMA, "command": "x", "input": "a.mp4", "image_size": [4, 3],
            "frames": [{"frame": 0, "timestamp_ms": 0, "faces": [{"box": [0, 0, 2, 2], "score": 0.9}]},
                       {"frame": 1, "timestamp_ms": 40, "faces": []}]}
    assert validate(good) == []
    bad = json.loads(json.dumps(good))
    bad["frames"][1]["timestamp_ms"] = 0
    bad["frames"][0]["faces"][0]["box"] = [3, 0, 2, 2]
    bad["frames"][0]["faces"][0]["score"] = 1.5
    del bad["schema"]
    problems = validate(bad)
    assert len(problems) == 4 and any("timestamp_ms" in p for p in problems)


def test_analyze_and_mesh_read_a_camera(tmp_path, monkeypatch, capsys, caplog):
    import cv2

    fake_camera(monkeypatch, cv2.imread(str(shared_file("faces/pyfeat_single_face.jpg"))), frames=3)
    code, text = cli(["analyze", "--camera", "0", "-o", tmp_path, "--no-charts"], capsys, caplog)
    assert code == 0, text
    doc = json.loads((tmp_path / "camera0.json").read_text())
    assert doc["kind"] == "camera" and len(doc["frames"]) == 3 and all(len(f["faces"]) == 1 for f in doc["frames"])
    assert frame_count(tmp_path / "camera0.annotated.mp4") == 3
    fake_camera(monkeypatch, cv2.imread(str(shared_file("faces/pyfeat_single_face.jpg"))), frames=5)
    code, text = cli(["mesh", "--camera", "0", "--max-frames", "2", "-o", tmp_path / "m.json"], capsys, caplog)
    assert code == 0, text
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["input"] == "camera 0" and len(doc["frames"]) == 2
    code, text = cli(["detect", "--camera", "0", "--max-frames", "2", "-o", tmp_path / "d.json"], capsys, caplog)
    assert code == 0, text
    (cam,) = json.loads((tmp_path / "d.json").read_text())["inputs"]
    assert cam["input"] == "camera 0" and [len(f["faces"]) for f in cam["frames"]] == [1, 1]


def test_camera_as_an_input_is_an_old_spelling_of_dash_dash_camera(tmp_path, capsys, caplog):
    code, text = cli(["anonymize", "cam:7", "-o", tmp_path / "cam.mp4", "--no-preview"], capsys, caplog)
    assert code == 1 and "camera 7: cannot be opened" in text
    assert "deprecated" in text and "--camera 7" in text


@pytest.mark.parametrize("old, new", [("on", ["--progress"]), ("off", ["--no-progress"]), ("auto", [])])
def test_old_progress_values_still_work_for_one_release(old, new, tmp_path, capsys, caplog):
    """analyze's old `--progress on|off|auto` value form runs as the new flag does, with a deprecation note."""
    photo = shared_file("faces/mp_sergey.png")
    code, text = cli(["analyze", photo, "--progress", old, "-o", tmp_path / "a"], capsys, caplog)
    assert code == 0 and f"--progress {old} is deprecated" in text
    code, text = cli(["analyze", photo, *new, "-o", tmp_path / "b"], capsys, caplog)
    assert code == 0 and "deprecated" not in text
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in (tmp_path / "b").iterdir())


@pytest.mark.parametrize("extra, env, want", [([], None, 1), (["--num-threads", "2"], None, 2), ([], "3", 3)])
def test_commands_run_opencv_with_the_interpreters_thread_count(extra, env, want, tmp_path, monkeypatch):
    """OpenCV's pool follows --num-threads / FACEPIPE_NUM_THREADS / 1 while a command runs (the pipelines
    run frames in parallel themselves), and the caller's setting is back afterwards."""
    import cv2

    from facepipe.runtime.model import Model

    seen = []
    run = Model.run_filled
    monkeypatch.setattr(Model, "run_filled", lambda self, *a: seen.append(cv2.getNumThreads()) or run(self, *a))
    if env is None:
        monkeypatch.delenv("FACEPIPE_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("FACEPIPE_NUM_THREADS", env)
    before = cv2.getNumThreads()
    cv2.setNumThreads(5)
    try:
        out = tmp_path / "faces.json"
        assert main(["detect", str(shared_file("groups/tfjs_three_people.jpg")), "-o", str(out), "-q", *extra]) == 0
        assert seen and set(seen) == {want}
        assert len(json.loads(out.read_text())["inputs"][0]["frames"][0]["faces"]) == 3
        assert cv2.getNumThreads() == 5
    finally:
        cv2.setNumThreads(before)
