"""Defects of issue 14, each pinned by a test: short videos with audio, error hints, Live-Photo pairs,
tracebacks, option ranges, noise, silent format loss."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import testdata_file as shared_file
from mediafiles import make_clip, png_claiming_size

from facepipe.cli.main import build_parser, main
from facepipe.errors import FacepipeError, InputError, ModelError

REPO = Path(__file__).resolve().parents[1]


def cli(argv: list[str], capsys, caplog) -> tuple[int, str]:
    """main() in this process: (exit status, everything written to stderr or logged)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err + caplog.text


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """The CLI in a child process: a crash (signal) shows as a negative return code, not a dead test run."""
    return subprocess.run([sys.executable, "-m", "facepipe.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


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
    assert photo["kind"] == "image" and len(photo["faces"]["faces"]) == 1
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
