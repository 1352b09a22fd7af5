"""Runtime: LiteRT and onnxruntime running real models from the store; batch == loop of single calls."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.io.image import read_image
from facepipe.runtime.model import Model, ModelLoadError

FACE = "faces/pyfeat_single_face.jpg"
OTHERS = ("faces/if_attr_1423.jpg", "faces/tfjs_depth_portrait.jpg")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


def _rgb(rel: str, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(read_image(shared_file(rel)), size, interpolation=cv2.INTER_AREA)


def _blazeface_input(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) / 127.5 - 1.0)[None]  # [-1, 1]


def _yunet_input(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)[None]  # BGR 0-255 NCHW


def _yunet_best_score(outputs: list[np.ndarray], names: list[str]) -> np.ndarray:
    """Per batch item, the best sqrt(cls * obj) over all strides (OpenCV FaceDetectorYN's score)."""
    by = dict(zip(names, outputs, strict=True))
    best = [
        np.sqrt(np.clip(by[f"cls_{s}"], 0, 1) * np.clip(by[f"obj_{s}"], 0, 1)).max(axis=(1, 2))
        for s in (8, 16, 32)
    ]
    return np.max(best, axis=0)


def test_litert_face_detector_finds_the_face_and_not_a_blank():
    m = Model(model_path("face_detection_short_range"))
    assert type(m._backend).__name__ == "_LiteRTBackend"
    assert [s.shape for s in m.inputs] == [(1, 128, 128, 3)]
    face = _blazeface_input(_rgb(FACE, (128, 128)))
    blank = _blazeface_input(np.full((128, 128, 3), 128, np.uint8))
    regressors, scores = m.run(face)
    assert regressors.shape == (1, 896, 16) and scores.shape == (1, 896, 1)
    assert _sigmoid(scores).max() > 0.7
    assert _sigmoid(m.run(blank)[1]).max() < 0.3


def _assert_batch_equals_loop(m: Model, batch: np.ndarray) -> list[np.ndarray]:
    singles = [m.run(batch[i : i + 1]) for i in range(len(batch))]
    batched = m.run(batch)
    for k, spec in enumerate(m.outputs):
        joined = (
            np.concatenate([s[k] for s in singles])
            if spec.shape[:1] == (1,)
            else np.stack([s[k] for s in singles])
        )
        assert batched[k].shape == joined.shape and batched[k].shape[0] == len(batch)
        np.testing.assert_allclose(batched[k], joined, rtol=1e-5, atol=1e-5)
    # Single items still work after a batch.
    for k in range(len(m.outputs)):
        np.testing.assert_allclose(m.run(batch[1:2])[k], singles[1][k], rtol=1e-5, atol=1e-5)
    return batched


def test_litert_batch_resize_equals_loop_of_single_calls():
    """face_landmark takes a resized batch dimension: one invoke for the whole batch."""
    m = Model(model_path("face_landmark"))
    batch = np.concatenate([(_rgb(p, (192, 192)).astype(np.float32) / 255.0)[None] for p in (FACE, *OTHERS)])
    _assert_batch_equals_loop(m, batch)
    assert m._backend._resizable  # really resized, never fell back to the loop


def test_litert_batch_folding_model_falls_back_to_a_loop():
    """BlazeFace accepts the resize but its fixed Reshape folds the batch into the anchor axis
    ([1, 3*896, 16]); the runtime must notice and loop, giving per-item outputs."""
    m = Model(model_path("face_detection_short_range"))
    batch = np.concatenate([_blazeface_input(_rgb(p, (128, 128))) for p in (FACE, *OTHERS)])
    regressors, scores = _assert_batch_equals_loop(m, batch)
    assert regressors.shape == (3, 896, 16) and scores.shape == (3, 896, 1)
    assert not m._backend._resizable


def test_litert_batch_that_mixes_items_is_caught_and_looped():
    """hand_recrop accepts a batch resize with per-item output shapes, yet every item after
    the first comes out wrong; the one-time check against a single run must catch it."""
    m = Model(model_path("hand_recrop"))
    batch = np.concatenate([(_rgb(p, (256, 256)).astype(np.float32) / 255.0)[None] for p in (FACE, *OTHERS)])
    _assert_batch_equals_loop(m, batch)
    assert not m._backend._resizable


def test_litert_output_without_batch_axis_is_stacked():
    """face_blendshapes outputs a bare [52] vector and refuses a batch resize."""
    m = Model(model_path("face_blendshapes"))
    points = np.random.default_rng(0).uniform(0, 256, (3, 146, 2)).astype(np.float32)
    (scores,) = _assert_batch_equals_loop(m, points)
    assert scores.shape == (3, 52)


def test_litert_thread_count_does_not_change_results():
    path = model_path("face_detection_short_range")
    x = _blazeface_input(_rgb(FACE, (128, 128)))
    one, two = Model(path, num_threads=1).run(x), Model(path, num_threads=2).run(x)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_onnx_yunet_finds_the_face_and_fixed_batch_loops():
    m = Model(model_path("face_detection_yunet_2023mar"))
    assert type(m._backend).__name__ == "_OnnxBackend"
    assert m.inputs[0].shape == (1, 3, 640, 640)  # fixed batch of 1: more items must be looped
    names = [o.name for o in m.outputs]
    face = _yunet_input(_rgb(FACE, (640, 640)))
    blank = _yunet_input(np.full((640, 640, 3), 128, np.uint8))
    single_face, single_blank = m.run(face), m.run(blank)
    assert _yunet_best_score(single_face, names)[0] > 0.7
    assert _yunet_best_score(single_blank, names)[0] < 0.3
    both = m.run(np.concatenate([face, blank]))
    for k in range(len(m.outputs)):
        assert both[k].shape[0] == 2
        np.testing.assert_allclose(
            both[k], np.concatenate([single_face[k], single_blank[k]]), rtol=1e-5, atol=1e-6
        )


def test_wrong_input_shape_and_unsupported_files_are_clear(tmp_path):
    m = Model(model_path("face_detection_short_range"))
    with pytest.raises(ValueError, match="wants shape"):
        m.run(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(ModelLoadError, match="not found"):
        Model(tmp_path / "absent.tflite")
    with pytest.raises(ModelLoadError, match="unsupported model type"):
        Model(model_path("face_landmarker"))  # a .task bundle is not a model


def test_model_load_error_is_a_user_facing_error(tmp_path):
    """The CLI prints FacepipeErrors as one line: a model that cannot be loaded is one of them."""
    from facepipe.errors import FacepipeError, ModelError

    with pytest.raises(ModelError) as info:
        Model(tmp_path / "absent.tflite")
    assert isinstance(info.value, FacepipeError) and isinstance(info.value, RuntimeError)
    assert str(tmp_path / "absent.tflite") in str(info.value)
