"""facepipe.jobs, the media-job layer every app uses: inputs, names, frames, reports; and a toy
app built on it in under 40 lines."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from conftest import testdata_file as shared_file
from mediafiles import make_clip

from facepipe.errors import InputError
from facepipe.jobs import MonotonicMs, collect_inputs, open_media, output_stems


def toy_app(paths: list[str], out_dir: Path):
    """Face boxes of every frame of every video/photo, one JSON per input, one report per input."""
    from facepipe._fsutil import atomic_write_bytes
    from facepipe.jobs import FileReport, Progress, collect_inputs, open_media, output_stems, run_each
    from facepipe.solutions.face_detection import FaceDetector

    detector = FaceDetector()
    items = collect_inputs(paths, recursive=True)
    stems = output_stems([i.path for i in items], folder_of=lambda p: out_dir)

    def one(item) -> FileReport:
        frames = []
        with open_media(item.path) as media, Progress(None, item.path.name, enabled=False) as bar:
            for f in media:
                dets = detector.detect(f.image)
                faces = [{"box": [round(float(v), 2) for v in box], "score": round(float(s), 4)}
                         for box, s in zip(dets.xyxy, dets.scores)]
                frames.append({"frame": f.index, "timestamp_ms": f.timestamp_ms, "faces": faces})
                bar.update()
        out = out_dir / f"{stems[item.path]}.json"
        atomic_write_bytes(out, json.dumps({"input": str(item.path), "frames": frames}).encode())
        return FileReport(item.path, item.kind, [out], frames=len(frames))

    return run_each(items, one, describe=lambda item: (item.path, item.kind))


def test_toy_app_is_small_and_works(tmp_path):
    pytest.importorskip("av")
    assert len(inspect.getsource(toy_app).splitlines()) < 40
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "IMG_1.MOV", n=3, audio=True)
    (src / "IMG_1.JPG").write_bytes(shared_file("faces/pyfeat_single_face.jpg").read_bytes())
    (src / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    out.mkdir()
    summary = toy_app([str(src)], out)
    assert [r.ok for r in summary.reports] == [True, True, False]  # sorted: IMG_1.JPG, IMG_1.MOV, broken
    assert "broken.mp4" in summary.reports[2].error
    photo = json.loads((out / "IMG_1_JPG.json").read_text())
    video = json.loads((out / "IMG_1_MOV.json").read_text())
    assert photo["frames"][0]["timestamp_ms"] == 0 and len(photo["frames"][0]["faces"]) == 1
    assert [f["timestamp_ms"] for f in video["frames"]] == [0, 100, 200]


def test_toy_app_on_a_real_video(tmp_path):
    """The same toy app on a real shared clip (pyfeat_single_face.mp4: one man, 640x360, 30 fps, MP3
    audio): one JSON frame per decoded frame, at the frames' own times, his face in (nearly) all."""
    pytest.importorskip("av")
    from facepipe.io.video import probe_video

    src = shared_file("videos/pyfeat_single_face.mp4")
    summary = toy_app([str(src)], tmp_path)
    assert [r.ok for r in summary.reports] == [True]
    frames = json.loads((tmp_path / "pyfeat_single_face.json").read_text())["frames"]
    info = probe_video(src)
    assert len(frames) == summary.reports[0].frames == info.frame_count > 60
    stamps = [f["timestamp_ms"] for f in frames]
    assert stamps[0] == 0 and all(b > a for a, b in zip(stamps, stamps[1:]))
    assert abs(stamps[-1] - 1000 * (len(frames) - 1) / float(info.fps)) <= 2
    assert sum(len(f["faces"]) == 1 for f in frames) >= 0.95 * len(frames)


def test_collect_inputs_walks_each_folder_once(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    for name in ("a.jpg", "sub/b.mp4", ".hidden.jpg", "notes.txt", "a_anonymized.jpg"):
        (root / name).write_bytes(b"x")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "sub" / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    found = collect_inputs([root], recursive=True, skip=lambda p: p.stem.endswith("_anonymized"))
    assert [(f.path.relative_to(root).as_posix(), f.kind) for f in found] == [("a.jpg", "image"),
                                                                             ("sub/b.mp4", "video")]
    assert found[1].relative_folder == Path("sub")
    assert [f.path.name for f in collect_inputs([root])] == ["a.jpg", "a_anonymized.jpg"]  # no -r: top only
    with pytest.raises(InputError, match="missing.jpg: no such file"):
        collect_inputs([tmp_path / "missing.jpg"])


def test_output_stems_keep_the_extension_only_when_names_collide():
    files = [Path("d/IMG_1.JPG"), Path("d/IMG_1.MOV"), Path("d/img_2.png"), Path("e/IMG_1.JPG")]
    assert output_stems(files) == {files[0]: "IMG_1_JPG", files[1]: "IMG_1_MOV", files[2]: "img_2",
                                   files[3]: "IMG_1"}


def test_timestamps_strictly_increase():
    clock = MonotonicMs()
    assert [clock(t) for t in (0.0, 0.0004, 0.033, 0.02, 1.0)] == [0, 1, 33, 34, 1000]


def test_open_media_of_a_photo_is_frame_0_at_0_ms(tmp_path):
    with open_media(shared_file("faces/mp_sergey.png")) as media:
        frames = list(media)
    assert not media.is_video and [(f.index, f.timestamp_ms) for f in frames] == [(0, 0)]
    with pytest.raises(InputError, match="nope.mp4: no such file"):
        open_media(tmp_path / "nope.mp4")


class _MeanLevels:
    """A toy PipelinedJob: the mean level of every frame of a video, in frame order."""

    def __init__(self, path: Path, fail_at: int | None = None) -> None:
        self.path, self.fail_at, self.means = path, fail_at, []

    def measure(self, image, index: int) -> float:
        if index == self.fail_at:
            raise RuntimeError("injected failure")
        return float(image.mean())

    def run_sequential(self) -> None:
        from facepipe.io.video import VideoReader

        with VideoReader(self.path) as reader:
            self.means = [self.measure(f.image, f.index) for f in reader]

    def build_graph(self, execution):
        from facepipe.graph import FunctionCalculator, FunctionOptions, GraphBuilder

        b = GraphBuilder(num_workers=execution.threads)
        b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "path"},
                   outputs={"IMAGE": "frames", "FRAME": "info"})
        b.add_node(FunctionCalculator, name="mean", inputs={"IN0": "frames", "IN1": "info"}, outputs={"OUT": "mean"},
                   max_in_flight=execution.in_flight,
                   options=FunctionOptions(lambda image, info: self.measure(image, info.index)))
        graph = b.build()
        graph.observe_output("mean", lambda packet: self.means.append(packet.payload))
        return graph, {"path": str(self.path)}


def test_one_option_picks_sequential_or_graph_and_both_agree(tmp_path):
    pytest.importorskip("av")
    from facepipe.jobs import ExecutionOptions, run_pipelined

    clip = shared_file("videos/pyfeat_single_face.mp4")
    runs = {}
    for workers in (1, 3):
        job = _MeanLevels(clip)
        run_pipelined(job, ExecutionOptions(workers), clip)
        runs[workers] = job.means
    assert len(runs[1]) == 72 and runs[3] == runs[1]  # in frame order, the same values
    assert ExecutionOptions(1).sequential and not ExecutionOptions(3).sequential
    assert ExecutionOptions(20).in_flight == 8 and ExecutionOptions(3).in_flight == 3


def test_a_failed_graph_run_names_the_file_and_the_frame(tmp_path):
    pytest.importorskip("av")
    from facepipe.errors import ProcessingError
    from facepipe.jobs import ExecutionOptions, run_pipelined

    clip = shared_file("videos/pyfeat_single_face.mp4")
    with pytest.raises(ProcessingError, match=r"pyfeat_single_face\.mp4: processing failed at the frame at .* s"
                                              r" \(RuntimeError: injected failure\)"):
        run_pipelined(_MeanLevels(clip, fail_at=5), ExecutionOptions(2), clip)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_execution_options_reject_bad_worker_counts(workers):
    from facepipe.jobs import ExecutionOptions

    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        ExecutionOptions(workers)


def test_workers_is_a_deprecated_alias_of_execution():
    from facepipe.apps.analyze import AnalyzeOptions

    with pytest.warns(DeprecationWarning, match="AnalyzeOptions: workers= is deprecated"):
        options = AnalyzeOptions(workers=2)
    assert options.execution.workers == 2 and options.workers is None


def test_live_view_keeps_a_recording_on_ctrl_c_and_drops_it_on_an_error(tmp_path):
    """The end of every live run (anonymize --camera, faces identify --camera): the recording starts
    on the first frame with the frames' own millisecond timestamps; Ctrl-C is the normal stop (the
    recording is closed and kept); any other error aborts it (no half-written file) and goes on."""
    pytest.importorskip("av")
    from facepipe.io.image import read_image
    from facepipe.io.video import VideoReader
    from facepipe.jobs import LiveView

    image = read_image(shared_file("faces/pyfeat_single_face.jpg"))[:240, :320]
    kept = tmp_path / "kept.mp4"
    with LiveView(show=False, output=kept, window="test") as view:
        assert view.wanted
        for ms in (0, 40, 95):
            assert view.put(image, ms, fps=30000 / 1001)
        raise KeyboardInterrupt
    with VideoReader(kept) as reader:
        assert [round(f.time * 1000) for f in reader] == [0, 40, 95]
    with pytest.raises(RuntimeError, match="boom"), LiveView(show=False, output=tmp_path / "lost.mp4",
                                                             window="test") as view:
        view.put(image, 0, fps=30)
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.mp4"]
    assert not LiveView(show=False, output=None, window="test").wanted
