"""Selfie segmentation parity with mediapipe 0.10.21, and the background blur/replace app."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path, runtime_with
from conftest import testdata_file as data_file
from goldens_util import golden_inputs, load_golden

from facepipe.apps.background import BackgroundEditor, BackgroundOptions, composite, cover_resize
from facepipe.errors import InputError
from facepipe.io.image import read_image
from facepipe.solutions.selfie_segmentation import SelfieSegmentation, SelfieSegmentationOptions

_MODELS = {0: "selfie_segmentation", 1: "selfie_segmentation_landscape"}


def _segmenter(selection: int) -> SelfieSegmentation:
    return SelfieSegmentation(SelfieSegmentationOptions(selection, runtime=runtime_with(_MODELS[selection])))


def _editor(**kw) -> BackgroundEditor:
    return BackgroundEditor(BackgroundOptions(**kw, runtime=runtime_with(_MODELS[kw.get("model_selection", 0)])))


@pytest.mark.parametrize("selection,set_name", [(0, "selfie_segmentation"), (1, "selfie_segmentation_landscape")])
def test_mask_parity_with_mediapipe(selection: int, set_name: str) -> None:
    seg = _segmenter(selection)
    for rel in golden_inputs(set_name):
        g = load_golden(set_name, rel)
        image = read_image(data_file(rel))
        mask = seg.process(image).mask
        assert mask.shape == image.shape[:2] and mask.dtype == np.float32
        ours, ref = mask > 0.5, g["mask"]
        iou = (ours & ref).sum() / max((ours | ref).sum(), 1)
        assert iou >= 0.97, (rel, iou)
        if "mask_f16" in g:  # stored float masks: equal up to float16 rounding
            np.testing.assert_allclose(mask, g["mask_f16"].astype(np.float32), atol=2e-3, err_msg=rel)


def test_low_res_mask_has_the_model_shape() -> None:
    image = read_image(data_file("faces/mp_sergey.png"))
    assert _segmenter(0).low_res_mask(image).shape == (256, 256)
    assert _segmenter(1).low_res_mask(image).shape == (144, 256)
    with pytest.raises(ValueError, match="model_selection"):
        SelfieSegmentationOptions(2)


def test_no_person_gives_an_empty_mask() -> None:
    mask = _segmenter(0).process(np.full((120, 160, 3), 200, np.uint8)).mask
    assert mask.shape == (120, 160) and (mask < 0.5).all()


def test_blur_keeps_the_person_and_changes_the_background() -> None:
    image = read_image(data_file("faces/mp_sergey.png"))
    editor = _editor(mode="blur", blur_sigma=0.02)
    out = editor.process(image)
    mask = editor.mask(image)
    person, background = mask > 0.99, mask < 0.01
    assert person.mean() > 0.2 and background.mean() > 0.1
    diff = np.abs(out.astype(int) - image).max(-1)
    assert diff[person].max() <= 2  # the person is untouched (up to rounding)
    assert diff[background].mean() > 3  # the background is blurred
    np.testing.assert_allclose(out[background], editor.background_for(image)[background], atol=1)


def test_color_and_image_replacement_and_hard_threshold() -> None:
    image = read_image(data_file("faces/pyfeat_single_face.jpg"))
    green = _editor(mode="color", color=(0, 255, 0), threshold=0.5)
    out = green.process(image)
    mask = green.mask(image)
    assert set(np.unique(mask).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(out[mask == 0], np.array([0, 255, 0], np.uint8).reshape(1, 3).repeat(
        int((mask == 0).sum()), 0))
    np.testing.assert_array_equal(out[mask == 1], image[mask == 1])
    backdrop = read_image(data_file("groups/yolov5_zidane.jpg"))
    replaced = _editor(mode="image", background=backdrop, threshold=0.5).process(image)
    expected_bg = cover_resize(backdrop, image.shape[1], image.shape[0])
    np.testing.assert_array_equal(replaced[mask == 0], expected_bg[mask == 0])


def test_cover_resize_and_composite() -> None:
    src = np.arange(20 * 40 * 3, dtype=np.uint8).reshape(20, 40, 3)
    out = cover_resize(src, 30, 30)
    assert out.shape == (30, 30, 3)
    a, b = np.full((2, 2, 3), 200, np.uint8), np.full((2, 2, 3), 100, np.uint8)
    alpha = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)
    np.testing.assert_array_equal(composite(a, alpha, b)[..., 0], [[100, 200], [150, 125]])


def test_video_background_keeps_frames_and_timing(tmp_path) -> None:
    from facepipe.io.video import VideoReader

    src = data_file("videos/pyfeat_single_face.mp4")
    dst = tmp_path / "out.mp4"
    n = _editor(mode="color", color=(255, 0, 255)).process_video(src, dst, max_frames=6)
    assert n == 6 and dst.is_file()
    with VideoReader(src) as a, VideoReader(dst) as b:
        src_frames = [f for f, _ in zip(a, range(6), strict=False)]
        out_frames = list(b)
    assert len(out_frames) == 6
    assert out_frames[0].image.shape == src_frames[0].image.shape
    assert [f.time for f in out_frames] == pytest.approx([f.time for f in src_frames], abs=1e-3)
    # Corners are background: magenta after encoding (lossy, so approximately).
    corner = out_frames[3].image[:20, :20].reshape(-1, 3).mean(0)
    assert corner[0] > 200 and corner[1] < 60 and corner[2] > 200


def test_temporal_smoothing_only_in_video_mode() -> None:
    image = read_image(data_file("faces/mp_sergey.png"))
    editor = _editor(mode="blur", temporal_smoothing=0.7)
    single = editor.mask(image)
    editor.mask(np.ascontiguousarray(image[:, ::-1]), video=True)
    blended = editor.mask(image, video=True)
    np.testing.assert_array_equal(editor.mask(image), single)  # images: no state
    assert np.abs(blended - single).max() > 0.05  # video: uncertain pixels lean on the previous mask


def test_bad_options_and_refusing_to_overwrite_the_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="background"):
        BackgroundOptions(mode="image")
    with pytest.raises(ValueError, match="mode"):
        BackgroundOptions(mode="sepia")
    with pytest.raises(ValueError, match="threshold"):
        BackgroundOptions(threshold=1.0)
    src = tmp_path / "in.png"
    from facepipe.io.image import write_image

    write_image(src, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="overwrite"):
        _editor().process_image(src, src)


def test_cli_segment_mask_and_background(tmp_path, capsys) -> None:
    import json

    from facepipe.cli.main import main

    model_path("selfie_segmentation")
    src = data_file("faces/mp_sergey.png")
    assert main(["segment", str(src)]) == 0
    stats = json.loads(capsys.readouterr().out)["frames"][0]
    assert 0.3 < stats["person_fraction"] < 0.9
    npz = tmp_path / "m.npz"
    assert main(["segment", str(src), "-o", str(npz)]) == 0
    with np.load(npz) as d:
        mask = _segmenter(0).process(read_image(src)).mask
        np.testing.assert_array_equal(d["mask_u8"][0], np.clip(np.rint(mask * 255), 0, 255).astype(np.uint8))
    edited = tmp_path / "e.png"
    assert main(["segment", str(src), "--background", "color", "--color", "0,0,255", "--threshold", "0.5",
                 "-o", str(edited)]) == 0
    out = read_image(edited)
    assert (out[mask < 0.5] == [0, 0, 255]).all()
    assert main(["segment", str(src), "--background", "blur"]) == 2  # needs -o: a usage error
    assert main(["segment", str(src), "--background", "color", "-o", str(src)]) == 1  # never the input
