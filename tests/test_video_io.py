"""facepipe.io.video: frames, timestamps, audio and damage handling, on shared videos and small synthetic clips."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from conftest import testdata_file as shared_file  # noqa: E402
from mediafiles import make_clip  # noqa: E402

from facepipe.errors import InputError  # noqa: E402
from facepipe.io.video import VideoEncodeOptions, VideoReader, VideoWriter, probe_video  # noqa: E402


def audio_packets(path: Path) -> list[list[tuple[int, str]]]:
    """Per audio stream: (pts, sha1 of the packet bytes) of every packet, in file order."""
    with av.open(str(path)) as c:
        out: dict[int, list[tuple[int, str]]] = {s.index: [] for s in c.streams.audio}
        for p in c.demux(*c.streams.audio):
            if p.size:
                out[p.stream.index].append((p.pts, hashlib.sha1(bytes(p)).hexdigest()))
    return [out[k] for k in sorted(out)]


def video_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [f.pts * s.time_base for f in c.decode(s)]


def copy_video(src: Path, dst: Path, **kwargs) -> int:
    n = 0
    with VideoReader(src) as r, VideoWriter.like(r, dst, **kwargs) as w:
        for f in r:
            w.write(f.image, f)
            n += 1
    return n


def test_copy_keeps_frames_timing_and_audio(tmp_path):
    src = shared_file("videos/pyfeat_single_face.mp4")  # H.264 + MP3
    dst = tmp_path / "out.mp4"
    n = copy_video(src, dst)
    src_info, dst_info = probe_video(src), probe_video(dst)
    assert n == src_info.frame_count == dst_info.frame_count == 72
    assert video_times(dst) == video_times(src)
    assert dst_info.fps == src_info.fps
    assert abs(dst_info.duration - src_info.duration) <= 1 / float(src_info.fps)
    assert audio_packets(dst) == audio_packets(src)  # stream copy: bit-identical
    assert dst_info.audio[0].codec == src_info.audio[0].codec


def test_vfr_and_late_audio_are_kept(tmp_path):
    src = shared_file("videos/pyfeat_face_noface.mov")  # HEVC, VFR (512/640 tick steps), audio starts at 2.4 s
    dst = tmp_path / "out.mp4"
    copy_video(src, dst)
    t_src, t_dst = video_times(src), video_times(dst)
    assert len(set(np.diff([float(t) for t in t_src]).round(4))) > 1  # really VFR
    assert t_dst == t_src
    a_src, a_dst = audio_packets(src), audio_packets(dst)
    assert [h for _, h in a_dst[0]] == [h for _, h in a_src[0]]
    assert a_dst[0][0][0] == a_src[0][0][0]  # first audio packet at the same time (edit list exact)


@pytest.mark.parametrize("rotation, shape, white_at", [
    (90, (64, 32), "bottom-left"),    # ffmpeg -autorotate shows the top-left corner at the bottom left
    (-90, (64, 32), "top-right"),
    (180, (32, 64), "bottom-right"),
])
def test_rotation_metadata_gives_upright_frames(tmp_path, rotation, shape, white_at):
    src = tmp_path / "rot.mp4"
    make_clip(src, rotation=rotation)
    with VideoReader(src) as r:
        assert r.info.rotation == rotation % 360
        assert (r.info.height, r.info.width) == shape
        frame = next(iter(r)).image
    ys, xs = np.nonzero(frame[..., 0] > 200)
    H, W = shape
    expect = {"bottom-left": (H - 4, 4), "top-right": (4, W - 4), "bottom-right": (H - 4, W - 4)}[white_at]
    assert abs(ys.mean() - expect[0]) < 2 and abs(xs.mean() - expect[1]) < 2
    # Written upright, without a display matrix: players show the same picture.
    dst = tmp_path / "out.mp4"
    copy_video(src, dst)
    with VideoReader(dst) as r2:
        assert r2.info.rotation == 0 and (r2.info.height, r2.info.width) == shape
        assert np.abs(next(iter(r2)).image.astype(int) - frame).max() < 40


def test_clip_without_audio_and_other_container(tmp_path):
    src = tmp_path / "silent.mp4"
    make_clip(src, n=5)
    dst = tmp_path / "out.mkv"
    n = copy_video(src, dst, options=VideoEncodeOptions(codec="mpeg4", crf=None, pix_fmt="yuv420p"))
    info = probe_video(dst)
    assert n == 5 and not info.has_audio and info.codec == "mpeg4" and info.container_format.startswith("matroska")


def test_audio_into_matroska(tmp_path):
    src = tmp_path / "a.mp4"
    make_clip(src, n=8, audio=True)
    dst = tmp_path / "out.mkv"
    copy_video(src, dst)
    assert [h for _, h in audio_packets(dst)[0]] == [h for _, h in audio_packets(src)[0]]


def _audio_starts(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        return [p.pts * a.time_base for p in c.demux(a) if p.size]


@pytest.mark.parametrize("read_ahead", [0, 1, 7])
def test_a_copy_that_stops_early_ends_its_audio_with_its_last_frame(tmp_path, read_ahead):
    """A run that stops after n frames (--max-frames) copies exactly the audio packets that start
    before its last frame ends, however many frames the reader had decoded beyond it."""
    src = shared_file("videos/lp_d20_talking.mp4")  # 25 fps, AAC (1024 samples a packet)
    n = 12
    dst = tmp_path / f"out{read_ahead}.mp4"
    with VideoReader(src) as r, VideoWriter.like(r, dst) as w:
        frames = iter(r)
        for f in frames:
            if f.index == n:
                break
            w.write(f.image, f)
        for _ in range(read_ahead):  # a reader further ahead (a graph's decoder is) changes nothing
            next(frames)
    end = Fraction(n, 25)
    src_starts = _audio_starts(src)
    want = [t for t in src_starts if t < end]
    assert len(want) < len(src_starts)
    assert _audio_starts(dst) == want
    assert [h for _, h in audio_packets(dst)[0]] == [h for _, h in audio_packets(src)[0]][: len(want)]


def _clip_with_longer_audio(path: Path, frames: int = 4, audio_s: float = 1.0) -> None:
    """H.264 at 10 fps and AAC that goes on `audio_s` seconds (past the video's frames / 10 s)."""
    img = np.full((32, 64, 3), 90, np.uint8)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 32, "yuv420p"
        a = out.add_stream("aac", rate=8000)
        a.layout = "mono"
        for _ in range(frames):
            for p in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        for i in range(round(audio_s * 10)):
            frame = av.AudioFrame.from_ndarray(
                (np.sin(np.arange(800) / 5.0 + i)[None] * 0.3).astype(np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 800
            for p in a.encode(frame):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)


def test_a_copy_of_every_frame_keeps_the_audio_after_the_last_one(tmp_path):
    src = tmp_path / "long_audio.mp4"
    _clip_with_longer_audio(src)
    assert max(_audio_starts(src)) > Fraction(4, 10)  # audio goes on after the last frame
    for stop_at_last in (False, True):
        dst = tmp_path / f"out{stop_at_last}.mp4"
        with VideoReader(src) as r, VideoWriter.like(r, dst) as w:
            for f in r:
                w.write(f.image, f)
                if stop_at_last and f.index == r.info.frame_count - 1:
                    break  # every frame written, though the reader was not read to its end
        assert audio_packets(dst) == audio_packets(src)


def _truncations(tmp_path: Path) -> list[Path]:
    src = shared_file("videos/fr_short_hamilton_clip.mp4")  # index (moov) at the end
    data = src.read_bytes()
    fast = tmp_path / "fast.mp4"  # the same streams with the index first ("faststart")
    with av.open(str(src)) as i, av.open(str(fast), "w", container_options={"movflags": "faststart"}) as o:
        m = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is not None:
                p.stream = m[p.stream.index]
                o.mux(p)
    fdata = fast.read_bytes()
    cases = {"cut_mdat": data[: len(data) // 2], "cut_index_tail": data[: len(data) - 3000],
             "fast_cut_half": fdata[: len(fdata) // 2], "fast_cut_end": fdata[: len(fdata) - 500]}
    paths = []
    for name, blob in cases.items():
        p = tmp_path / f"{name}.mp4"
        p.write_bytes(blob)
        paths.append(p)
    return paths


def test_truncated_files_are_refused(tmp_path):
    for bad in _truncations(tmp_path):
        with pytest.raises(InputError) as err, VideoReader(bad) as r, VideoWriter.like(r, tmp_path / "out.mp4") as w:
            for f in r:
                w.write(f.image, f)
        assert str(bad) in str(err.value)
        assert not (tmp_path / "out.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_not_a_video(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError, match="x.mp4"):
        VideoReader(p)
    with pytest.raises(InputError, match="no such file"):
        VideoReader(tmp_path / "missing.mp4")


def test_writer_error_leaves_nothing(tmp_path):
    src = tmp_path / "a.mp4"
    make_clip(src, n=6, audio=True)
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous")  # an existing output stays as it was
    with pytest.raises(RuntimeError, match="boom"), VideoReader(src) as r, VideoWriter.like(r, dst) as w:
        for f in r:
            if f.index == 3:
                raise RuntimeError("boom")
            w.write(f.image, f)
    assert dst.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "out.mp4"]


def test_writer_checks_frames(tmp_path):
    with VideoWriter(tmp_path / "o.mp4", width=32, height=16, fps=10) as w:
        w.write(np.zeros((16, 32, 3), np.uint8))
        with pytest.raises(ValueError, match="uint8"):
            w.write(np.zeros((8, 32, 3), np.uint8))
        with pytest.raises(ValueError, match="not after"):
            w.write(np.zeros((16, 32, 3), np.uint8), 0)
        w.write(np.zeros((16, 32, 3), np.uint8))
    assert probe_video(tmp_path / "o.mp4").frame_count == 2


def test_writer_refuses_to_overwrite_its_input(tmp_path):
    src = tmp_path / "a.mp4"
    make_clip(src)
    with VideoReader(src) as r, pytest.raises(InputError, match="overwrite the input"):
        VideoWriter.like(r, src)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv444p"])
def test_written_colours_come_back(tmp_path, pix_fmt):
    """Flat colour patches (any memory layout, e.g. a flipped view) decode to the colours written,
    whichever conversion the writer uses for the pixel format (OpenCV for yuv420p, swscale else)."""
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [20, 20, 20], [200, 120, 60]],
                       np.uint8)
    img = np.repeat(np.repeat(colours[None], 64, 0), 32, 1)  # 64 x 192, six 32-px columns
    dst = tmp_path / f"c_{pix_fmt}.mkv"
    opts = VideoEncodeOptions(crf=0, pix_fmt=pix_fmt)
    with VideoWriter(dst, width=192, height=64, fps=10, options=opts) as w:
        w.write(img[:, ::-1])  # a view with a negative stride
        w.write(img)
    with VideoReader(dst) as r:
        frames = [f.image for f in r]
    for got, want in zip(frames, (img[:, ::-1], img), strict=True):
        centre = (slice(16, 48), np.arange(6) * 32 + 16)
        assert np.abs(got[centre].astype(int) - want[centre]).max() <= 3


def test_writer_takes_a_float_frame_rate(tmp_path):
    """A camera reports its rate as a float (29.97002997...); the writer must not overflow FFmpeg's rationals."""
    from fractions import Fraction

    import numpy as np

    from facepipe.io.video import VideoReader, VideoWriter

    path = tmp_path / "cam.mp4"
    with VideoWriter(path, width=64, height=48, fps=30000 / 1001, time_base=Fraction(1, 1000)) as writer:
        for i in range(3):
            writer.write(np.full((48, 64, 3), 40 * i, np.uint8), 33 * i)
    with VideoReader(path) as reader:
        assert len(list(reader)) == 3


def test_same_frames_encode_to_the_same_file_every_time(tmp_path):
    """The same frames give the same bytes on every run: outputs of repeated or distributed runs compare exactly.

    (x264's AVX-512 code changed the encode from run to run in one process: 5 of 6 runs differed here.)
    """
    with VideoReader(shared_file("videos/lp_d20_talking.mp4")) as r:
        frames = [f for _, f in zip(range(12), r)]
    digests = set()
    for run in range(5):
        dst = tmp_path / f"run{run}.mp4"
        with VideoReader(shared_file("videos/lp_d20_talking.mp4")) as r, \
                VideoWriter.like(r, dst, copy_audio=False) as w:
            for f in frames:
                w.write(f.image, f)
        digests.add(hashlib.sha256(dst.read_bytes()).hexdigest())
    assert len(digests) == 1



@pytest.mark.parametrize("name", ["lp_s18_woman_indoor.mp4", "pyfeat_face_noface.mov", "facenet_pedestrians.mp4"])
def test_frames_are_pyav_own_rgb_conversion(name):
    """The reader converts through one swscale context of its own, without slice threads (a new context and
    thread pool per frame cost 0.5 ms a 720p frame): the pixels are PyAV's `to_ndarray(format="rgb24")`."""
    import av

    src = shared_file(f"videos/{name}")  # H.264 720p, HEVC, H.264 1080p
    with VideoReader(src, rotate=False) as reader:
        ours = [f.image for _, f in zip(range(20), reader)]
    with av.open(str(src)) as c:
        theirs = [f.to_ndarray(format="rgb24") for _, f in zip(range(20), c.decode(video=0))]
    assert len(ours) == len(theirs) == 20
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == np.uint8 and np.array_equal(a, b)


def test_subme_reaches_x264(tmp_path):
    """`VideoEncodeOptions.subme` replaces the preset's sub-pixel refinement (x264 writes its settings into
    the stream)."""
    with pytest.raises(ValueError, match="subme"):
        VideoEncodeOptions(subme=12)
    with VideoReader(shared_file("videos/lp_d20_talking.mp4")) as r:
        frames = [f for _, f in zip(range(4), r)]
    settings = {}
    for subme in (None, 1):
        dst = tmp_path / f"subme{subme}.mp4"
        with VideoReader(shared_file("videos/lp_d20_talking.mp4")) as r, \
                VideoWriter.like(r, dst, VideoEncodeOptions(subme=subme), copy_audio=False) as w:
            for f in frames:
                w.write(f.image, f)
        data = dst.read_bytes()
        start = data.index(b"x264 - core")
        settings[subme] = data[start:data.index(b"\0", start)].decode()
    assert " subme=2 " in settings[None] and " subme=1 " in settings[1]  # veryfast's own, then ours
    assert " me=hex " in settings[1]  # the rest of the preset stays


def test_frames_handed_to_x264_without_a_copy_encode_the_same(tmp_path, monkeypatch):
    """The writer hands x264 OpenCV's I420 array itself (`from_numpy_buffer`): the same file as from a copy."""
    import facepipe.io.video_writer as vw

    with VideoReader(shared_file("videos/lp_s18_woman_indoor.mp4")) as r:
        frames = [f for _, f in zip(range(20), r)]

    def encode(dst):
        with VideoReader(shared_file("videos/lp_s18_woman_indoor.mp4")) as r, \
                VideoWriter.like(r, dst, copy_audio=False) as w:
            for f in frames:
                w.write(f.image, f)
        return hashlib.sha256(dst.read_bytes()).hexdigest()

    direct = encode(tmp_path / "direct.mp4")
    monkeypatch.setattr(vw, "_yuv420p_frame", lambda av, yuv: av.VideoFrame.from_ndarray(yuv, format="yuv420p"))
    assert encode(tmp_path / "copied.mp4") == direct
