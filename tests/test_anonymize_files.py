"""End to end: `facepipe anonymize` on videos, photos, folders; integrity and fail-closed behaviour."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file
from mediafiles import fake_camera

av = pytest.importorskip("av")

from test_video_io import audio_packets, video_times  # noqa: E402

from facepipe.apps.anonymize.detect import FaceFinder  # noqa: E402
from facepipe.apps.anonymize.files import anonymize_paths, anonymize_video_file  # noqa: E402
from facepipe.apps.anonymize.options import AnonymizeOptions  # noqa: E402
from facepipe.apps.anonymize.redact import Redactor  # noqa: E402
from facepipe.cli.main import main  # noqa: E402
from facepipe.errors import InputError, ProcessingError  # noqa: E402
from facepipe.io.video import VideoReader, probe_video  # noqa: E402
from facepipe.jobs import ExecutionOptions  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _models():
    model_path("face_detection_full_range")
    model_path("face_detection_short_range")


@pytest.fixture()
def clip(tmp_path) -> Path:
    """A private copy of a short talking-face video with MP3 audio (72 frames, 640x360)."""
    p = tmp_path / "in" / "clip.mp4"
    p.parent.mkdir()
    shutil.copy(shared_file("videos/pyfeat_single_face.mp4"), p)
    return p


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def frames(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as r:
        return [f.image for f in r]


def test_video_integrity_and_redaction(clip, tmp_path):
    before = digest(clip)
    out = tmp_path / "out.mp4"
    report = anonymize_video_file(clip, out, AnonymizeOptions(), progress=False)
    assert digest(clip) == before  # input never modified
    src, dst = probe_video(clip), probe_video(out)
    assert report.ok and report.frames == src.frame_count == dst.frame_count
    assert dst.fps == src.fps and abs(dst.duration - src.duration) <= 1 / float(src.fps)
    assert video_times(out) == video_times(clip)
    assert audio_packets(out) == audio_packets(clip)
    a, b = frames(clip), frames(out)
    finder = FaceFinder()
    face = finder.detect(a[0]).xyxy[0].astype(int)
    x0, y0, x1, y1 = face
    diff = np.abs(a[0].astype(int) - b[0].astype(int)).max(-1)
    assert (diff[y0:y1, x0:x1] > 6).mean() > 0.5  # the face is redacted
    assert np.median(diff[:, : max(1, x0 - 80)]) <= 3  # the rest is only re-encoded


def test_vfr_video_keeps_timestamps(tmp_path):
    src = shared_file("videos/pyfeat_face_noface.mov")
    out = tmp_path / "o.mp4"
    anonymize_video_file(src, out, AnonymizeOptions(), progress=False)
    assert video_times(out) == video_times(src)
    assert [h for _, h in audio_packets(out)[0]] == [h for _, h in audio_packets(src)[0]]


class _FailingDetector:
    def __init__(self, fail_at: int) -> None:
        self.finder, self.calls, self.fail_at = FaceFinder(), 0, fail_at

    def __call__(self, rgb):
        self.calls += 1
        if self.calls > self.fail_at:
            raise RuntimeError("injected detector failure")
        return self.finder(rgb)


@pytest.mark.parametrize("workers", [1, 2])  # sequential, graph
def test_fail_closed_on_detector_error(clip, tmp_path, workers):
    out = tmp_path / "out.mp4"
    with pytest.raises(ProcessingError, match=r"clip\.mp4: .*injected detector failure.*no output was written"):
        anonymize_video_file(clip, out, AnonymizeOptions(execution=ExecutionOptions(workers)),
                             detector=_FailingDetector(30), progress=False)
    assert list(tmp_path.glob("*out*")) == [] and not out.exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_fail_closed_on_redaction_error(clip, tmp_path, monkeypatch, workers):
    calls = {"n": 0}
    real = Redactor.redact

    def flaky(self, rgb, regions, polygons=None, *, inplace=False):
        calls["n"] += 1
        if calls["n"] == 5:
            raise MemoryError("injected redaction failure")
        return real(self, rgb, regions, polygons, inplace=inplace)

    monkeypatch.setattr(Redactor, "redact", flaky)
    out = tmp_path / "out.mp4"
    with pytest.raises(ProcessingError, match=r"clip\.mp4: .*frame.*MemoryError: injected"):
        anonymize_video_file(clip, out, AnonymizeOptions(execution=ExecutionOptions(workers)), progress=False)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_graph_and_sequential_runs_agree(clip, tmp_path):
    reports = {w: anonymize_video_file(clip, tmp_path / f"w{w}.mp4", AnonymizeOptions(execution=ExecutionOptions(w)),
                                       progress=False)
               for w in (1, 2)}
    seq, graph = reports[1], reports[2]
    assert (graph.frames, graph.regions, graph.faces) == (seq.frames, seq.regions, seq.faces) and seq.regions > 0
    assert video_times(tmp_path / "w2.mp4") == video_times(tmp_path / "w1.mp4") == video_times(clip)
    assert audio_packets(tmp_path / "w2.mp4") == audio_packets(clip)
    # Same regions redacted; stackBlur's +-1 rounding (OpenCV's thread split) is all that may differ.
    diff = [np.abs(a.astype(np.int16) - b) for a, b in zip(frames(tmp_path / "w1.mp4"), frames(tmp_path / "w2.mp4"))]
    assert len(diff) == 72 and max(d.mean() for d in diff) < 0.5


def test_graph_and_sequential_runs_end_tracks_at_the_same_scene_cut(tmp_path):
    """The hamilton clip's first 40 frames hold a hard cut at frame 20 (stage -> close-up). The graph
    (a scene-cut node feeding the tracker) and the sequential run (`OfflineAnonymizer`) redact the same
    regions, and fewer than without the cut detector: nothing is held or backfilled across the cut."""
    from dataclasses import replace

    src = shared_file("videos/fr_short_hamilton_clip.mp4")
    reports = {}
    for name, workers, cuts in (("graph", 2, True), ("seq", 1, True), ("seq_nocut", 1, False)):
        options = AnonymizeOptions(execution=ExecutionOptions(workers))
        reports[name] = anonymize_video_file(src, tmp_path / f"{name}.mp4",
                                             options if cuts else replace(options, cuts=None), progress=False,
                                             max_frames=40)
    graph, seq, nocut = reports["graph"], reports["seq"], reports["seq_nocut"]
    assert graph.frames == seq.frames == nocut.frames == 40
    assert (graph.regions, graph.faces) == (seq.regions, seq.faces)
    assert seq.regions < nocut.regions - 20  # frame 19 alone had 13 regions backfilled from after the cut


def test_graph_redacts_its_frames_in_place_with_the_same_result(tmp_path, monkeypatch):
    """The anonymize graph redacts the decoded frames themselves (no copy): the finder is done with a frame
    before the backfill releases it, so the file is the one a copying redaction writes (a 1080p crowd, where
    the finder's two slots and the redaction's run frames at once)."""
    from facepipe.apps.anonymize.calculators import RedactInPlaceCalculator

    src = shared_file("videos/facenet_pedestrians.mp4")
    digests = {}
    for in_place in (True, False):
        monkeypatch.setattr(RedactInPlaceCalculator, "in_place", in_place)
        dst = tmp_path / f"in_place_{in_place}.mp4"
        report = anonymize_video_file(src, dst, AnonymizeOptions(execution=ExecutionOptions(2)), progress=False,
                                      max_frames=30)
        assert report.frames == 30 and report.regions > 100
        digests[in_place] = hashlib.sha256(dst.read_bytes()).hexdigest()
    assert digests[True] == digests[False]


def test_truncated_video_gives_error_and_no_output(clip, tmp_path):
    bad = clip.with_name("bad.mp4")
    data = clip.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match="bad.mp4"):
        anonymize_video_file(bad, tmp_path / "o.mp4", AnonymizeOptions(), progress=False)
    assert not (tmp_path / "o.mp4").exists()


def _jpeg_with_gps(rgb: np.ndarray) -> bytes:
    from PIL import Image

    img = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)}  # GPS IFD
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif, quality=95)
    return buf.getvalue()


def test_folder_run_with_a_bad_file(tmp_path, capsys, caplog):
    from PIL import Image

    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    face = np.asarray(Image.open(shared_file("faces/pyfeat_single_face.jpg")).convert("RGB"))
    (folder / "a.jpg").write_bytes(_jpeg_with_gps(face))
    (folder / "sub" / "b.png").write_bytes((shared_file("faces/mp_sergey.png")).read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    before = {p: digest(p) for p in folder.rglob("*") if p.is_file()}

    code = main(["-q", "anonymize", str(folder), "--recursive", "--no-progress"])
    assert code == 1  # one file failed
    assert {p: digest(p) for p in before} == before
    out_a, out_b = folder / "a_anonymized.jpg", folder / "sub" / "b_anonymized.png"
    assert out_a.exists() and out_b.exists() and not (folder / "broken_anonymized.jpg").exists()
    assert "broken.jpg" in capsys.readouterr().err + caplog.text  # -q: the error (logged) and nothing else
    with Image.open(out_a) as im:
        assert not im.getexif()  # EXIF (GPS, camera) stripped
    # A second run does not anonymize its own outputs again.
    assert main(["-q", "anonymize", str(folder / "a.jpg"), "--keep-metadata", "--no-progress"]) == 0
    with Image.open(out_a) as im:
        assert im.getexif().get(0x010F) == "TestCam"
    assert not (folder / "a_anonymized_anonymized.jpg").exists()


def test_cli_video_and_options(clip, tmp_path):
    out = tmp_path / "o.mkv"
    code = main(["-q", "anonymize", str(clip), "-o", str(out), "--method", "mosaic", "--no-audio",
                 "--codec", "libx264", "--crf", "30", "--hold", "2", "--draw-boxes", "--no-progress"])
    assert code == 0
    info = probe_video(out)
    assert len(video_times(out)) == 72 and not info.has_audio and info.container_format.startswith("matroska")


def test_refuses_to_overwrite_input(clip):
    before = digest(clip)
    assert main(["-q", "anonymize", str(clip), "-o", str(clip), "--no-progress"]) == 1
    assert digest(clip) == before


def test_camera_without_display_or_device(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["-q", "anonymize", "cam"]) == 1  # no window possible and no -o: clear error
    assert main(["-q", "anonymize", "cam:7", "-o", str(tmp_path / "c.mp4")]) == 1  # no such camera
    assert not (tmp_path / "c.mp4").exists()


def test_missing_input_is_reported():
    summary_code = main(["-q", "anonymize", "/nonexistent/x.mp4", "--no-progress"])
    assert summary_code == 1
    with pytest.raises(InputError):
        anonymize_paths([], AnonymizeOptions())


def test_camera_recording_with_a_fake_device(tmp_path, monkeypatch):
    """No camera here: a stand-in VideoCapture feeds a face photo; the recording is anonymized."""
    import cv2

    bgr = cv2.imread(str(shared_file("faces/pyfeat_single_face.jpg")))[:360, :560]

    fake_camera(monkeypatch, bgr, frames=8)
    out = tmp_path / "cam.mp4"
    assert main(["-q", "anonymize", "--camera", "0", "-o", str(out), "--no-preview"]) == 0
    got = frames(out)
    assert len(got) == 8
    diff = np.abs(got[0].astype(int) - bgr[..., ::-1].astype(int)).max(-1)
    assert 0.02 < (diff > 6).mean() < 0.6  # the face region, not the whole frame


def test_inputs_sharing_an_output_name_are_not_overwritten(tmp_path):
    """x.gif and x.png in one folder would both map to x_anonymized.png: each keeps its extension in
    its output's name instead (as a Live Photo's IMG_1.JPG and IMG_1.MOV), and both are done."""
    from PIL import Image

    from facepipe.io.image import read_image, write_image

    img = read_image(shared_file("faces/mp_sergey.png"))
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "x.png", img)
    Image.fromarray(img).save(folder / "x.gif")
    summary = anonymize_paths([folder], progress=False)
    assert summary.ok and len(summary.reports) == 2
    assert {r.output.name for r in summary.reports} == {"x_png_anonymized.png", "x_gif_anonymized.png"}
    assert not (folder / "x_anonymized.png").exists()


def test_crowd_flag_changes_streams_not_photos():
    """--crowd switches videos/cameras to the crowd preset; photos keep their own defaults,
    which already run the crowd tiles (and beat the crowd preset on the shared photos)."""
    import argparse

    from facepipe.apps.anonymize.detect import FaceFinderOptions
    from facepipe.cli.cmd_anonymize import build_options, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    plain = build_options(parser.parse_args(["anonymize", "x.mp4"]))
    crowd = build_options(parser.parse_args(["anonymize", "x.mp4", "--crowd", "--thresh", "0.3"]))
    assert plain.detect == FaceFinderOptions()
    assert crowd.detect == FaceFinderOptions.for_crowds(tile_period=4, min_score=0.3)
    assert plain.image_detect == FaceFinderOptions.for_images()
    assert crowd.image_detect == FaceFinderOptions.for_images(min_score=0.3)


def test_confirm_and_hold_flags_reach_the_tracker():
    import argparse

    from facepipe.apps.anonymize.track import TrackerOptions
    from facepipe.cli.cmd_anonymize import build_options, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert build_options(parser.parse_args(["anonymize", "x.mp4"])).track == TrackerOptions()
    opts = build_options(parser.parse_args(["anonymize", "x.mp4", "--confirm", "0.5", "--hold", "9"]))
    assert opts.track == TrackerOptions(confirm_score=0.5, hold=9)
    for bad in (["--confirm", "2"], ["--hold", "-1"]):  # a usage error with the range, not a traceback
        with pytest.raises(SystemExit) as usage:
            main(["-q", "anonymize", "x.mp4", *bad])
        assert usage.value.code == 2


def test_encoder_flags_default_to_the_quicker_motion_search():
    """The anonymizer encodes with x264 veryfast and subme 1 (x264 35-40 % less CPU, files ~5-10 % larger:
    benchmarks/RESULTS.md, "Speed, fourth pass"); a preset given keeps its own sub-pixel search."""
    import argparse

    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.cli.cmd_anonymize import build_options, register
    from facepipe.io.video import VideoEncodeOptions

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    video = build_options(parser.parse_args(["anonymize", "x.mp4"])).video
    assert video == AnonymizeOptions().video == VideoEncodeOptions(preset="veryfast", subme=1)
    assert build_options(parser.parse_args(["anonymize", "x.mp4", "--preset", "veryfast"])).video.subme is None
    assert build_options(parser.parse_args(["anonymize", "x.mp4", "--preset", "slow", "--subme", "7"])).video == \
        VideoEncodeOptions(preset="slow", subme=7)
    with pytest.raises(SystemExit) as usage:
        main(["-q", "anonymize", "x.mp4", "--subme", "12"])
    assert usage.value.code == 2
