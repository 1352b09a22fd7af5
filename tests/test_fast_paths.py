"""The speed paths give the slow paths' numbers exactly: in-place model runs, cached whole-image warps,
precomputed Procrustes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.io.image import read_image
from facepipe.runtime.model import Model
from facepipe.stages.image_to_tensor import (
    BORDER_REPLICATE,
    BORDER_ZERO,
    FullImageCropper,
    crop_geometry,
    crop_to_tensor,
    full_image_roi,
    warp_to_tensor,
)
from facepipe.stages.procrustes import WeightedProcrustes, weighted_procrustes


def _copy_into(x: np.ndarray):
    def fill(ins: list[np.ndarray]) -> None:
        np.copyto(ins[0], x)

    return fill


def test_run_filled_equals_run_at_every_batch_size_and_reuses_the_interpreter():
    m = Model(model_path("face_landmark"))
    rng = np.random.default_rng(0)
    for batch in (1, 3, 3, 1, 2):  # new sizes take the resize path, repeated ones the in-place path
        x = rng.uniform(0, 1, (batch, 192, 192, 3)).astype(np.float32)
        want = m.run(x)
        got = m.run_filled(batch, _copy_into(x))
        assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
        # read() sees the same outputs and its result is what the caller gets.
        sums = m.run_filled(batch, _copy_into(x), lambda outs: [float(o.sum()) for o in outs])
        assert sums == [float(w.sum()) for w in want]


def test_run_filled_outputs_are_owned_and_leaked_views_fail_loudly():
    m = Model(model_path("face_detection_short_range"))
    x = np.zeros((1, 128, 128, 3), np.float32)
    first = m.run_filled(1, _copy_into(x))
    kept = first[1].copy()
    m.run_filled(1, _copy_into(np.ones_like(x)))
    np.testing.assert_array_equal(first[1], kept)  # not overwritten by the next call

    leaked: list[np.ndarray] = []
    m.run_filled(1, _copy_into(x), lambda outs: leaked.append(outs[0]))
    with pytest.raises(RuntimeError):  # LiteRT refuses to run while its buffer is referenced
        m.run_filled(1, _copy_into(x))
    leaked.clear()
    m.run_filled(1, _copy_into(x))  # and works again once it is released


def test_run_filled_on_onnx_equals_run():
    m = Model(model_path("face_detection_yunet_2023mar"))
    x = np.random.default_rng(1).uniform(0, 255, (1, *m.inputs[0].shape[1:])).astype(np.float32)
    want = m.run(x)
    got = m.run_filled(1, _copy_into(x))
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize(
    ("out_w", "out_h", "keep_aspect", "border", "value_range"),
    [
        (128, 128, True, BORDER_ZERO, (-1.0, 1.0)),
        (192, 192, True, BORDER_ZERO, (0.0, 1.0)),
        (256, 144, False, BORDER_ZERO, (0.0, 1.0)),
    ],
)
def test_full_image_cropper_equals_crop_to_tensor(out_w, out_h, keep_aspect, border, value_range):
    cropper = FullImageCropper(out_w, out_h, keep_aspect=keep_aspect, border=border, value_range=value_range,
                               cache_size=2)
    photo = read_image(shared_file("faces/pyfeat_single_face.jpg"))
    rng = np.random.default_rng(2)
    # The last is the tensor's own size (a finder's tile or zoomed-out view): copied, not warped.
    images = [photo, photo[:301, :517], rng.integers(0, 256, (37, 1001, 3), dtype=np.uint8),
              rng.integers(0, 256, (out_h, out_w, 3), dtype=np.uint8)]
    out = np.empty((out_h, out_w, 3), np.float32)
    # Three rounds: the first warps natively, later ones remap with the cached maps; three sizes in a
    # two-entry cache also exercise eviction.
    for _ in range(3):
        for image in images:
            ref = crop_to_tensor(image, full_image_roi(), out_w, out_h, keep_aspect=keep_aspect, border=border,
                                 value_range=value_range)
            cropper.warp_into(image, out)
            np.testing.assert_array_equal(out, ref.tensor)
            geo = cropper.geometry((image.shape[1], image.shape[0]))
            for name in ("roi", "padding", "matrix"):
                np.testing.assert_array_equal(getattr(geo, name), getattr(ref, name))
    assert len(cropper._cache) == 2


def test_crop_geometry_and_warp_to_tensor_equal_crop_to_tensor_for_rotated_rois():
    image = read_image(shared_file("faces/mp_sergey.png"))
    rng = np.random.default_rng(3)
    out = np.empty((96, 96, 3), np.float32)
    for _ in range(20):
        roi = np.array([*rng.uniform(0.1, 0.9, 2), *rng.uniform(0.1, 1.2, 2), rng.uniform(-np.pi, np.pi)],
                       np.float32)
        keep = bool(rng.integers(2))
        ref = crop_to_tensor(image, roi, 96, 96, keep_aspect=keep, border=BORDER_REPLICATE)
        geo = crop_geometry((image.shape[1], image.shape[0]), roi, 96, 96, keep_aspect=keep)
        warp_to_tensor(image, geo.warp, out, border=BORDER_REPLICATE)
        np.testing.assert_array_equal(out, ref.tensor)
        np.testing.assert_array_equal(geo.matrix, ref.matrix)


def test_weighted_procrustes_object_equals_the_function():
    rng = np.random.default_rng(4)
    src = rng.normal(size=(40, 3))
    weights = np.where(rng.uniform(size=40) < 0.5, 0.0, rng.uniform(0.1, 2.0, 40))
    targets = rng.normal(size=(3, 40, 3))
    solver = WeightedProcrustes(src, weights)
    want = weighted_procrustes(src, targets, weights)
    np.testing.assert_array_equal(solver(targets), want)
    np.testing.assert_array_equal(solver.fit_selected(targets[:, solver.selected]), want)


def test_a_failing_fill_or_read_leaves_the_model_usable():
    m = Model(model_path("face_detection_short_range"))
    x = np.zeros((1, 128, 128, 3), np.float32)
    want = m.run(x)

    def bad_fill(ins: list[np.ndarray]) -> None:
        view = ins[0][0]  # noqa: F841 - a view in the failing frame
        raise ValueError("fill failed")

    def bad_read(outs: list[np.ndarray]) -> None:
        view = outs[0]  # noqa: F841
        raise ValueError("read failed")

    with pytest.raises(ValueError, match="fill failed") as kept_fill:
        m.run_filled(1, bad_fill)
    with pytest.raises(ValueError, match="read failed") as kept_read:
        m.run_filled(1, _copy_into(x), bad_read)
    assert kept_fill.value is not None and kept_read.value is not None  # tracebacks still alive
    got = m.run_filled(1, _copy_into(x))
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
