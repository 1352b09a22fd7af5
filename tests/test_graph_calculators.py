"""Built-in calculators on real data: each graph gives what the stage gives when called directly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as data_file

from facepipe.graph import Calculator, Graph, GraphBuilder, GraphError, Packet

av = pytest.importorskip("av")

TIMEOUT = 120.0


def _need_models(*names: str) -> None:
    for name in names:
        model_path(name)  # skips (fails under CI) when missing


def _audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def test_video_decode_encode_keeps_frames_timestamps_and_audio(tmp_path):
    from facepipe.io.video import VideoReader

    src = data_file("videos/pyfeat_single_face.mp4")  # 640x360, 30 fps, 2.4 s, MP3 audio
    dst = tmp_path / "copy.mp4"
    b = GraphBuilder()
    b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "src"},
               outputs={"IMAGE": "image", "FRAME": "frame", "VIDEO": "video"})
    b.add_node("VideoEncoderCalculator", name="encoder", inputs={"IMAGE": "image", "FRAME": "frame", "VIDEO": "video"},
               side_packets={"PATH": "dst"}, options={"encode": {"crf": 12}})
    graph = b.build()
    out = graph.run(side_packets={"src": str(src), "dst": str(dst)}, collect=["frame"], timeout=TIMEOUT)
    with VideoReader(src) as a, VideoReader(dst) as c:
        src_frames, dst_frames = list(a), list(c)
        assert (c.info.width, c.info.height, c.info.time_base) == (a.info.width, a.info.height, a.info.time_base)
    assert len(dst_frames) == len(src_frames) == len(out["frame"])
    assert [f.pts for f in dst_frames] == [f.pts for f in src_frames]
    # Packet timestamps are the presentation times in microseconds.
    assert [p.timestamp for p in out["frame"]] == [round(f.time * 1e6) for f in src_frames]
    # Re-encoded at high quality: close to the source, not a different video.
    err = np.mean([np.abs(x.image.astype(np.int16) - y.image).mean() for x, y in zip(src_frames, dst_frames)])
    assert err < 3.0
    audio = _audio_packets(src)
    assert audio and _audio_packets(dst) == audio  # bit-identical copy
    assert not [p for p in tmp_path.iterdir() if p.name != "copy.mp4"]  # no temp files left


def test_failed_run_leaves_no_output_video(tmp_path):
    src = data_file("videos/lp_d20_talking.mp4")
    dst = tmp_path / "never.mp4"

    class FailAtFrame(Calculator):
        inputs = ("IN",)
        outputs = ("OUT",)

        def process(self, ctx):
            if ctx.timestamp >= 400_000:
                raise RuntimeError("simulated crash")
            ctx.outputs.add("OUT", ctx.input("IN"))

    b = GraphBuilder()
    b.add_node("VideoDecoderCalculator", side_packets={"PATH": "src"},
               outputs={"IMAGE": "image", "FRAME": "frame", "VIDEO": "video"})
    b.add_node(FailAtFrame, name="crash", inputs="image", outputs="processed")
    b.add_node("VideoEncoderCalculator", inputs={"IMAGE": "processed", "FRAME": "frame", "VIDEO": "video"},
               side_packets={"PATH": "dst"})
    with pytest.raises(GraphError, match=r"'crash'.*timestamp 400000.*simulated crash"):
        b.build().run(side_packets={"src": str(src), "dst": str(dst)}, timeout=TIMEOUT)
    assert list(tmp_path.iterdir()) == []


def test_missing_input_video_is_reported_from_start(tmp_path):
    b = GraphBuilder()
    b.add_node("VideoDecoderCalculator", name="decoder", side_packets={"PATH": "src"}, outputs={"IMAGE": "image"})
    with pytest.raises(GraphError, match=r"'decoder'.*open\(\).*no such file") as info:
        b.build().start({"src": str(tmp_path / "missing.mp4")})
    from facepipe.errors import InputError

    assert isinstance(info.value.__cause__, InputError)


def test_face_detector_calculator_matches_the_detector():
    _need_models("face_detection_short_range", "face_detection_full_range_sparse")
    from facepipe.io.image import read_image
    from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions

    names = ["faces/if_attr_1423.jpg", "faces/if_blur.jpg", "faces/if_pose_left_face.jpeg", "faces/if_mask2.jpg"]
    images = [read_image(data_file(n)) for n in names]
    for model in ("short", "full"):
        b = GraphBuilder(num_workers=2)
        b.input_stream("image")
        b.add_node("FaceDetectorCalculator", inputs="image", outputs="detections", options={"model": model},
                   max_in_flight=2)
        graph = b.build()
        out = graph.run({"image": [Packet(im, i) for i, im in enumerate(images)]}, collect=["detections"],
                        timeout=TIMEOUT)
        detector = FaceDetector(FaceDetectorOptions(model=model))
        got = [p.payload for p in out["detections"]]
        assert len(got) == len(images)
        for image, det in zip(images, got):
            ref = detector.detect(image)
            assert len(ref) > 0 or model == "short"
            np.testing.assert_array_equal(det.xyxy, ref.xyxy)
            np.testing.assert_array_equal(det.keypoints, ref.keypoints)


def test_face_mesh_calculator_tracks_like_the_solution():
    _need_models("face_detection_short_range", "face_landmark")
    from facepipe.calculators.video import frame_timestamp_us
    from facepipe.io.video import VideoReader
    from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

    src = data_file("videos/lp_d12_talking.mp4")
    b = GraphBuilder()
    b.add_node("VideoDecoderCalculator", side_packets={"PATH": "src"}, outputs={"IMAGE": "image"},
               options={"max_frames": 15})
    b.add_node("FaceMeshCalculator", inputs="image", outputs="mesh", options={"max_num_faces": 1})
    out = b.build().run(side_packets={"src": str(src)}, collect=["mesh"], timeout=TIMEOUT)
    mesh = FaceMesh(FaceMeshOptions(max_num_faces=1))
    with VideoReader(src) as reader:
        ref = [mesh.process(f.image, frame_timestamp_us(f) / 1000.0) for f, _ in zip(reader, range(15))]
    assert len(out["mesh"]) == 15
    for p, r in zip(out["mesh"], ref):
        assert len(r) == 1
        np.testing.assert_array_equal(p.payload.landmarks, r.landmarks)


@pytest.mark.parametrize("shape, n", [("ellipse", 30), ("hull", 12)])
def test_anonymize_graph_matches_the_offline_anonymizer(tmp_path, shape, n):
    _need_models("face_detection_short_range", "face_detection_full_range", "face_landmark")
    from facepipe.apps.anonymize.calculators import anonymize_video_config
    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.anonymize.pipeline import OfflineAnonymizer
    from facepipe.apps.anonymize.redact import RedactOptions
    from facepipe.io.video import VideoReader

    src = data_file("videos/fr_short_hamilton_clip.mp4")  # 1-6 faces, scene cuts
    options = AnonymizeOptions(redact=RedactOptions(shape=shape))
    graph = Graph(anonymize_video_config(options, detect_in_flight=2, redact_in_flight=2, max_frames=n),
                  num_workers=2)
    dst = tmp_path / "anon.mp4"
    out = graph.run(side_packets={"input_path": str(src), "output_path": str(dst)},
                    collect=["regions", "redacted"], timeout=TIMEOUT)

    with VideoReader(src) as reader:
        ref = list(OfflineAnonymizer(options).run((f.image, f) for f in itertools.islice(reader, n)))
    assert len(out["regions"]) == len(ref) == n
    assert sum(len(r.regions) for r, _ in ref) > n  # faces were found: the comparison means something
    for (result, _), regions, redacted in zip(ref, out["regions"], out["redacted"]):
        np.testing.assert_array_equal(regions.payload.xyxy, result.regions.xyxy)
        np.testing.assert_array_equal(regions.payload.track_ids, result.regions.track_ids)
        np.testing.assert_array_equal(regions.payload.extras["source"], result.regions.extras["source"])
        # cv2.stackBlur's rounding depends on how OpenCV splits the work over its threads (+-1).
        assert np.abs(redacted.payload.astype(np.int16) - result.image).max() <= 1
    with VideoReader(dst) as written:
        assert sum(1 for _ in written) == n
        assert written.info.has_audio
    prof = graph.profile()
    assert prof.node("finder").calls == n and prof.node("encoder").calls >= n
