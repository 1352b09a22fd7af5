"""Full-range BlazeFace on views of any size (apps/anonymize/wide.py, runtime.tflite_split.spatially_resized)
and the finder's wide tiles (`FaceFinderOptions.wide_tile`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import model_path, runtime_with
from conftest import testdata_file as shared_file

from facepipe.apps.anonymize.detect import FaceFinder, FaceFinderOptions
from facepipe.apps.anonymize.wide import WideFaceDetector, wide_shape
from facepipe.io.image import read_image
from facepipe.runtime.model import Model
from facepipe.runtime.tflite_split import read_graph, spatially_resized
from facepipe.solutions.face_detection import FaceDetector, FaceDetectorOptions


@pytest.fixture(scope="module")
def face96() -> np.ndarray:
    return cv2.resize(read_image(shared_file("faces/if_attr_1561.jpg")), (96, 96), interpolation=cv2.INTER_AREA)


def test_resized_model_scores_every_cell_of_a_larger_input(tmp_path) -> None:
    buf = model_path("face_detection_full_range").read_bytes()
    path = tmp_path / "wide.tflite"
    path.write_bytes(spatially_resized(buf, 256, 448))
    m = Model(path)
    assert m.inputs[0].shape == (1, 256, 448, 3)
    # The RESHAPEs to 2304 anchors are cut off: one 4x4 cell per output row.
    assert [o.shape for o in m.outputs] == [(1, 64, 112, 16), (1, 64, 112, 1)]
    assert "RESHAPE" not in str([op.builtin for op in read_graph(path.read_bytes()).ops if op.builtin == 22])
    # The same size as the file's is the same model (its outputs, before the reshape).
    same = tmp_path / "same.tflite"
    same.write_bytes(spatially_resized(buf, 192, 192))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 192, 192, 3)).astype(np.float32)
    want = Model(model_path("face_detection_full_range")).run(x)
    got = Model(same).run(x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.reshape(w.shape), w)
    with pytest.raises(ValueError, match="whole pixels"):
        spatially_resized(buf, 200, 200)  # the 6x6 map of a 192² input would be 6.25 wide


def test_wide_detector_equals_the_192_detector_on_a_192_view(face96) -> None:
    img = cv2.resize(face96, (192, 192))
    runtime = runtime_with("face_detection_full_range")
    want = FaceDetector(FaceDetectorOptions(model="full_dense", min_score=0.3, runtime=runtime)).detect(img)
    got = WideFaceDetector("full_dense", min_score=0.3, runtime=runtime).detect(img)
    assert len(want) == len(got) == 1
    np.testing.assert_allclose(got.xyxy, want.xyxy, atol=0.05)
    np.testing.assert_allclose(got.keypoints, want.keypoints, atol=0.05)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)


def test_wide_detector_finds_a_face_anywhere_in_a_large_view(face96) -> None:
    canvas = np.zeros((330, 700, 3), np.uint8)  # padded to 352 x 704
    assert wide_shape(700, 330) == (352, 704)
    canvas[20:116, 40:136] = face96
    canvas[212:308, 584:680] = face96  # moved by multiples of the network's largest stride (32)
    runtime = runtime_with("face_detection_full_range")
    det = WideFaceDetector("full_dense", min_score=0.5, runtime=runtime).detect(canvas)
    assert det.image_size == (700, 330)
    assert len(det) == 2
    order = np.argsort(det.xyxy[:, 0])
    a, b = det.xyxy[order]
    # The same face at another place: the same box, moved (the network is convolutional).
    np.testing.assert_allclose(b - a, [544, 192, 544, 192], atol=0.5)
    with pytest.raises(ValueError, match="no wide form"):
        WideFaceDetector("short", min_score=0.5)


def test_wide_tiles_plan_one_view_per_level_and_find_a_small_face(face96) -> None:
    classic = FaceFinder(FaceFinderOptions(wide_tile=0))
    wide = FaceFinder(FaceFinderOptions(wide_tile=1344))
    assert len(classic.tiles_for(1280, 720)) == 32  # 192² tiles, 2.6x the frame's area
    (tile,) = wide.tiles_for(1280, 720)
    assert (tile.x0, tile.y0, tile.x1, tile.y1) == (0, 0, 1280, 720)
    assert [t.k for t in wide.tiles_for(1920, 1080)] == pytest.approx([0.265, 0.7], abs=0.001)
    frame = np.full((720, 1280, 3), 90, np.uint8)
    small = cv2.resize(face96, (36, 36), interpolation=cv2.INTER_AREA)  # too small for the whole-frame views
    frame[500:536, 900:936] = small
    det = wide.detect(frame)
    hit = (det.xyxy[:, 0] < 918) & (det.xyxy[:, 2] > 918) & (det.xyxy[:, 1] < 518) & (det.xyxy[:, 3] > 518)
    assert hit.any()
    with pytest.raises(ValueError, match="wide_tile"):
        FaceFinderOptions(wide_tile=-1)


def test_wide_tiles_take_turns_only_on_large_frames() -> None:
    # The frame's wide views run every `tile_period`-th frame when they have more than
    # `full_scan_area` tensor pixels, else every frame.
    finder = FaceFinder(FaceFinderOptions(wide_tile=1344, whole_models=("short",), zoom_out=1.0, whole_turns=()))
    runs: list[tuple[int, int]] = []
    det = finder._detector("full_dense", wide=True)
    orig = det.detect
    det.detect = lambda view: runs.append(view.shape[:2]) or orig(view)
    big, small = np.zeros((720, 1280, 3), np.uint8), np.zeros((360, 640, 3), np.uint8)
    for i in range(4):
        finder.detect_frame(big, i)
    assert runs == [(504, 896)]
    runs.clear()
    for i in range(4):
        finder.detect_frame(small, i)
    assert runs == [(252, 448)] * 4
