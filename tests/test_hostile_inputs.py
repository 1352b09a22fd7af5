"""Hostile inputs for every command that reads media (issue 14's matrix).

Each case: no traceback, no crash, a one-line error naming the file and the problem, the
documented exit status (0 done, 1 processing failure, 2 usage error, 130 interrupted), inputs
untouched and no half-written output. Runs in this process (main()), except a Ctrl-C, which is
a real SIGINT to a child process.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import time
from pathlib import Path

import pytest
from clitools import cli, popen_cli
from conftest import testdata_file as shared_file
from mediafiles import broken_files, make_clip, photo_variants

pytest.importorskip("av")

# command -> (reads videos, takes folders)
COMMANDS = {
    "analyze": (True, True), "anonymize": (True, True), "detect": (False, True), "mesh": (True, False),
    "landmarks": (True, False), "hands": (True, False), "pose": (True, False), "holistic": (True, False),
    "segment": (True, False),
}
FAST = ["--workers", "1"]  # one thread: the same stages, less start-up for a 1-frame file


def _args(command: str, src: Path, out_dir: Path) -> list:
    """The command on `src`, writing into out_dir (a folder for the apps, a JSON file for the others)."""
    if command == "analyze":
        return [command, src, "-o", out_dir, "--no-charts", *FAST, "--no-progress"]
    if command == "anonymize":
        return [command, src, "-o", out_dir, "--no-progress"]
    return [command, src, "-o", out_dir / "out.json"]


def _digests(folder: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def _left_over(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".part" in p.name or p.name.endswith(".tmp")]


def _one_line_error(text: str, name: str) -> None:
    assert "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("ERROR")]
    assert errors and any(name in line for line in errors), text


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> dict[str, Path]:
    return broken_files(shared_file("faces/mp_sergey.png"), tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", ["zero-byte", "text as .jpg", "truncated JPEG", "truncated video",
                                  "video without frames", "huge image"])
def test_unusable_file_is_one_error_line(case, command, broken, tmp_path, capsys, caplog):
    src = broken[case]
    before = _digests(src.parent)
    out = tmp_path / "out"
    out.mkdir()
    code, text = cli(_args(command, src, out), capsys, caplog)
    assert code == 1
    _one_line_error(text, src.name)
    assert _digests(src.parent) == before
    assert not list(out.iterdir()), list(out.iterdir())  # nothing written, nothing half-written


@pytest.fixture(scope="module")
def odd_photos(tmp_path_factory) -> dict[str, Path]:
    return photo_variants(shared_file("faces/mp_sergey.png"), tmp_path_factory.mktemp("photos"))


@pytest.mark.parametrize("command", ["analyze", "anonymize", "detect", "mesh", "segment"])
@pytest.mark.parametrize("case", ["16-bit PNG", "RGBA PNG", "CMYK JPEG", "EXIF-rotated JPEG"])
def test_unusual_photo_is_processed(case, command, odd_photos, tmp_path, capsys, caplog):
    out = tmp_path / "out"
    out.mkdir()
    code, text = cli(_args(command, odd_photos[case], out), capsys, caplog)
    assert code == 0, text
    assert "Traceback" not in text and list(out.iterdir())


@pytest.mark.parametrize("command", ["analyze", "anonymize", "mesh", "landmarks", "segment"])
@pytest.mark.parametrize("frames", [1, 2])
@pytest.mark.parametrize("audio", [False, True], ids=["silent", "audio"])
def test_one_and_two_frame_videos(frames, audio, command, tmp_path, capsys, caplog):
    src = tmp_path / "short.mp4"
    make_clip(src, n=frames, audio=audio, size=(96, 64))
    out = tmp_path / "out"
    out.mkdir()
    code, text = cli(_args(command, src, out), capsys, caplog)
    assert code == 0, text
    assert "Traceback" not in text and not _left_over(tmp_path)


@pytest.mark.parametrize("command", COMMANDS)
def test_output_that_cannot_be_written(command, tmp_path, capsys, caplog):
    src = tmp_path / "face.png"
    shutil.copy(shared_file("faces/mp_sergey.png"), src)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder should be")
    target = blocker / "out"  # below a file: no folder can be made there, also for root
    argv = _args(command, src, target)
    code, text = cli(argv, capsys, caplog)
    assert code == 1
    _one_line_error(text, "blocker")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "face.png"]


@pytest.mark.parametrize("command", COMMANDS)
def test_output_is_the_input(command, tmp_path, capsys, caplog):
    src = tmp_path / "face.png"
    shutil.copy(shared_file("faces/mp_sergey.png"), src)
    out = src if command not in ("analyze",) else tmp_path
    argv = [command, src, "-o", out] + (["--no-charts"] if command == "analyze" else [])
    if command == "analyze":
        (tmp_path / "face.annotated.png").symlink_to(src)  # its annotated output would land on the input
    before = _digests(tmp_path)
    code, text = cli(argv, capsys, caplog)
    assert code == 1
    _one_line_error(text, "face")
    assert "overwrite" in text
    assert _digests(tmp_path) == before


@pytest.mark.parametrize("command", ["analyze", "anonymize", "detect"])
def test_live_photo_pair_and_symlink_loop_in_a_folder(command, tmp_path, capsys, caplog):
    folder = tmp_path / "DCIM"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(shared_file("faces/mp_sergey.png"), folder / "IMG_1.PNG")
    make_clip(folder / "IMG_1.MOV", n=2, audio=True, size=(96, 64))
    (folder / "sub" / "loop").symlink_to(folder, target_is_directory=True)  # DCIM/sub/loop -> DCIM
    out = tmp_path / "out"
    argv = [command, folder, "-o", out if command != "detect" else out.with_suffix(".json"), "-r"]
    if command == "analyze":
        argv = [command, folder, "-o", out, "--no-charts", *FAST, "--no-progress"]
    code, text = cli(argv, capsys, caplog)
    assert "Traceback" not in text
    if command == "detect":  # photos only: the video is not among its inputs
        assert code == 0
        import json

        assert [Path(i["input"]).name for i in json.loads(out.with_suffix(".json").read_text())["inputs"]] == [
            "IMG_1.PNG"]
        return
    assert code == 0, text
    names = sorted(p.name for p in out.rglob("*") if p.is_file())
    if command == "analyze":
        assert names == ["IMG_1_MOV.annotated.mov", "IMG_1_MOV.json", "IMG_1_PNG.annotated.png", "IMG_1_PNG.json"]
    else:
        assert names == ["IMG_1.MOV", "IMG_1.PNG"]


@pytest.mark.parametrize("command", ["analyze", "anonymize"])
def test_file_disappearing_mid_batch(command, tmp_path, capsys, caplog, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        shutil.copy(shared_file("faces/mp_sergey.png"), folder / name)
    import facepipe.io.image as image_module

    real = image_module._read_bytes  # every image read goes through it

    def vanish_b(path):  # the first read removes b.png, as another program might meanwhile
        (folder / "b.png").unlink(missing_ok=True)
        return real(path)

    monkeypatch.setattr(image_module, "_read_bytes", vanish_b)
    out = tmp_path / "out"
    argv = _args(command, folder, out)
    code, text = cli(argv, capsys, caplog)
    assert code == 1
    _one_line_error(text, "b.png")
    done = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert any(n.startswith("a") for n in done) and any(n.startswith("c") for n in done)
    assert not any(n.startswith("b") for n in done) and not _left_over(tmp_path)


def test_ctrl_c_mid_video_leaves_no_part_and_keeps_earlier_outputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(shared_file("faces/mp_sergey.png"), folder / "a.png")
    # A long 720p clip (282 frames, 10 s and more of work): a 72-frame 360p clip was sometimes finished
    # on a loaded machine before the signal, which the polling test process sent late.
    shutil.copy(shared_file("videos/lp_s18_woman_indoor.mp4"), folder / "b.mp4")
    out = tmp_path / "out"
    proc = popen_cli("anonymize", folder, "-o", out, "--no-progress")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(out.glob(".b.*.part.mp4")):
        time.sleep(0.1)  # the photo is done first, then the video's temporary file appears
    assert list(out.glob(".b.*.part.mp4")), "the video never started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # earlier output intact, no .part
    assert (out / "a.png").stat().st_size > 0
