"""Batch runs without Ray: the manifest skips finished files, redoes changed ones, retries and reports failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

av = pytest.importorskip("av")

from facepipe.apps.anonymize.files import anonymize_paths  # noqa: E402
from facepipe.apps.anonymize.options import AnonymizeOptions  # noqa: E402
from facepipe.apps.anonymize.redact import RedactOptions  # noqa: E402
from facepipe.apps.batch import (  # noqa: E402
    MANIFEST_NAME,
    AnonymizeTask,
    BatchOptions,
    plan_anonymize,
    run_batch,
    settings_sha256,
)
from facepipe.cli.main import main  # noqa: E402
from facepipe.jobs import ExecutionOptions  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _models():
    model_path("face_detection_full_range")
    model_path("face_detection_short_range")


def cut_clip(src: Path, dst: Path, seconds: float) -> None:
    """The first `seconds` of a video, audio included, by copying packets (no re-encoding)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = [s for s in inp.streams if s.type in ("video", "audio")]
        new = {s.index: out.add_stream_from_template(s) for s in streams}
        for pkt in inp.demux(streams):
            # decode order: every kept frame's references are kept too
            if pkt.dts is None or float(pkt.dts * pkt.time_base) >= seconds:
                continue
            pkt.stream = new[pkt.stream.index]
            out.mux(pkt)


def make_folder(root: Path, clips: int = 2, photos: int = 2) -> Path:
    """Short clips of shared talking-face videos (MP3 and AAC audio) and shared photos."""
    folder = root / "in"
    folder.mkdir(parents=True)
    for i, name in enumerate(("pyfeat_single_face.mp4", "lp_d20_talking.mp4")[:clips]):
        cut_clip(shared_file(f"videos/{name}"), folder / f"clip{i}_{name}", 0.4)  # in this order in a folder
    for name in ("if_blur.jpg", "if_pose_left_wryneck.png")[:photos]:
        shutil.copy(shared_file(f"faces/{name}"), folder / name)
    return folder


def decoded_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def manifest_records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / MANIFEST_NAME).read_text().splitlines()]


def test_resume_skips_done_redoes_changed_and_reports_failures(tmp_path):
    folder = make_folder(tmp_path)
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))  # not decodable
    out = tmp_path / "out"
    # 9: not a multiple of the tile period
    task = AnonymizeTask(AnonymizeOptions(execution=ExecutionOptions(1)), max_frames=9)
    plan = plan_anonymize([folder], out, recursive=False)
    first = run_batch(task, plan.items, plan.manifest_dir, BatchOptions(retries=1))
    assert sorted(r.input.name for r in first.done) == ["clip0_pyfeat_single_face.mp4", "clip1_lp_d20_talking.mp4",
                                                        "if_blur.jpg", "if_pose_left_wryneck.png"]
    assert [r.input.name for r in first.failed] == ["broken.mp4"] and first.attempts[folder / "broken.mp4"] == 2
    assert "broken.mp4" in first.failed[0].error and not (out / "broken.mp4").exists()
    # The same output as the plain run (one frame after another) of the same files: the photo byte for byte,
    # the videos frame for frame.
    names = ("clip0_pyfeat_single_face.mp4", "clip1_lp_d20_talking.mp4", "if_blur.jpg")
    plain = anonymize_paths([folder / n for n in names], AnonymizeOptions(execution=ExecutionOptions(1)),
                            output=tmp_path / "plain", progress=False, max_frames=9)
    assert plain.ok
    assert (out / "if_blur.jpg").read_bytes() == (tmp_path / "plain" / "if_blur.jpg").read_bytes()
    for name in names[:2]:
        ours, theirs = decoded_frames(out / name), decoded_frames(tmp_path / "plain" / name)
        assert len(ours) == len(theirs) == 9
        assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)), name
    recs = manifest_records(out)
    assert sorted((Path(r["input"]).name, r["status"]) for r in recs) == [
        ("broken.mp4", "failed"), ("clip0_pyfeat_single_face.mp4", "done"), ("clip1_lp_d20_talking.mp4", "done"),
        ("if_blur.jpg", "done"), ("if_pose_left_wryneck.png", "done")]

    # Rerun: the four done files are skipped, the failed one is tried again.
    second = run_batch(task, plan.items, plan.manifest_dir, BatchOptions(retries=0))
    assert len(second.skipped) == 4 and not second.done and [r.input.name for r in second.failed] == ["broken.mp4"]

    # A changed output, a changed input and changed settings are redone; the rest still skipped.
    (out / "if_blur.jpg").write_bytes(b"tampered")
    shutil.copy(shared_file("faces/if_pose_left_face.jpeg"), folder / "if_pose_left_wryneck.png")
    (folder / "broken.mp4").unlink()
    plan = plan_anonymize([folder], out, recursive=False)
    third = run_batch(task, plan.items, plan.manifest_dir)
    assert sorted(r.input.name for r in third.done) == ["if_blur.jpg", "if_pose_left_wryneck.png"]
    assert [p.name for p in third.skipped] == ["clip0_pyfeat_single_face.mp4", "clip1_lp_d20_talking.mp4"]
    mosaic = AnonymizeTask(AnonymizeOptions(redact=RedactOptions(method="mosaic"), execution=ExecutionOptions(1)),
                           max_frames=9)
    assert mosaic.settings() != task.settings()
    assert task.with_threads(4).settings() == task.settings()  # threads do not change the output
    assert len(run_batch(mosaic, plan.items[:1], plan.manifest_dir).done) == 1


def test_settings_hash_sees_array_contents():
    a, b = np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)
    b[1, 1, 1] = 1
    assert settings_sha256(a) != settings_sha256(b) and settings_sha256(a) == settings_sha256(a.copy())


def test_cli_resume_and_exit_status(tmp_path, capsys):
    folder = make_folder(tmp_path, clips=0)
    out = tmp_path / "out"
    assert main(["anonymize", str(folder), "-o", str(out), "--resume", "--workers", "1"]) == 0
    assert "2 done, 0 skipped" in capsys.readouterr().err
    assert main(["anonymize", str(folder), "-o", str(out), "--resume"]) == 0
    assert "0 done, 2 skipped" in capsys.readouterr().err
    (folder / "bad.png").write_bytes(b"not a png")
    assert main(["anonymize", str(folder), "-o", str(out), "--resume", "--retries", "0"]) == 1
    err = capsys.readouterr().err
    assert "0 done, 2 skipped (already done), 1 failed" in err
    assert "FAILED after 1 attempt(s)" in err and "bad.png" in err
    with pytest.raises(SystemExit) as exc:
        main(["anonymize", str(folder), "--resume", "--retries", "-1"])
    assert exc.value.code == 2 and "0..100" in capsys.readouterr().err


def test_cli_analyze_resume(tmp_path, capsys, caplog):
    model_path("face_landmarker")
    folder = make_folder(tmp_path, clips=0, photos=1)
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "-o", str(out), "--resume", "--no-charts"]) == 0
    assert "1 done, 0 skipped" in capsys.readouterr().err
    assert json.loads((out / "if_blur.json").read_text())["frames"][0]["faces"]
    assert main(["analyze", str(folder), "-o", str(out), "--resume", "--no-charts"]) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().err
    assert main(["analyze", "--camera", "0", "--resume"]) == 2
    assert "not a camera" in caplog.text


def test_identify_resume_follows_the_gallery(tmp_path, capsys, caplog):
    model_path("face_recognition_dlib_resnet_v1")
    folder, out, gallery = tmp_path / "in", tmp_path / "out", tmp_path / "g.sqlite3"
    folder.mkdir()
    photo = shutil.copy(shared_file("identities/jack_dorsey/img62.jpg"), folder / "jack.jpg")
    args = ["faces", "identify", str(folder), "-o", str(out), "--gallery", str(gallery), "--resume"]

    def names() -> list[str]:
        return [f["name"] for f in json.loads((out / "faces.json").read_text())["inputs"][0]["frames"][0]["faces"]]

    assert main(args) == 0 and "1 done, 0 skipped" in capsys.readouterr().err
    assert names() == ["unknown"] and gallery.is_file()  # an empty gallery is made, as without --resume
    assert main(args) == 0 and "0 done, 1 skipped" in capsys.readouterr().err and names() == ["unknown"]
    assert main(["faces", "enroll", "jack", str(photo), "--gallery", str(gallery)]) == 0
    assert main(args) == 0 and "1 done, 0 skipped" in capsys.readouterr().err  # the gallery changed
    assert names() == ["jack"]
    assert main(["faces", "identify", str(folder), "--gallery", str(gallery), "--resume"]) == 2
    assert "--ray and --resume need -o OUT" in caplog.text
