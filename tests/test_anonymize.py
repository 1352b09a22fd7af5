"""Anonymizer stages: redaction, tracking/backfill, tiling, and the detector on real faces."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import model_path
from conftest import testdata_file as shared_file

from facepipe.apps.anonymize.detect import FaceFinder, FaceFinderOptions
from facepipe.apps.anonymize.gating import on_body
from facepipe.apps.anonymize.pipeline import Anonymizer, BackfillBuffer
from facepipe.apps.anonymize.redact import RedactOptions, Redactor, _not_covered, mask_boxes
from facepipe.apps.anonymize.regions import Source, face_regions, region_sources
from facepipe.apps.anonymize.tiling import MODEL_RANGES, Tile, plan_tiles, tile_phases, tiles_near
from facepipe.apps.anonymize.track import FaceTracker, TrackerOptions
from facepipe.apps.anonymize.verify import FaceVerifier, VerifyOptions
from facepipe.io.image import read_image
from facepipe.results import Detections


def regions(*boxes) -> Detections:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    return face_regions(b, np.zeros((len(b), 6, 2)), np.ones(len(b)), np.arange(len(b)), np.zeros(len(b)), (200, 100))


def test_regions_are_detections_with_track_ids_and_sources():
    from facepipe.apps.anonymize.regions import detected_regions, empty_regions, merge_regions

    held = face_regions([[0, 0, 10, 10]], np.zeros((1, 6, 2)), [0.8], [7], [Source.HELD], (200, 100))
    found = detected_regions(dets([20, 20, 40, 40], [50, 50, 90, 90], size=(200, 100)))
    merged = merge_regions([found, empty_regions((200, 100)), held], (200, 100))
    assert isinstance(merged, Detections) and merged.keypoints.shape == (3, 6, 2)
    assert merged.track_ids.tolist() == [-1, -1, 7]
    assert region_sources(merged).tolist() == [Source.DETECTED, Source.DETECTED, Source.HELD]
    assert region_sources(merged[merged.track_ids >= 0]).tolist() == [Source.HELD]  # rows stay together
    none = merge_regions([], (200, 100))
    assert len(none) == 0 and none.track_ids.shape == (0,) and region_sources(none).shape == (0,)


def dets(*boxes, size=(640, 480)) -> Detections:
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    c = (b[:, :2] + b[:, 2:]) / 2
    return Detections(b, np.repeat(c[:, None], 6, 1), np.full(len(b), 0.9), size)


@pytest.fixture(scope="module")
def textured() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (100, 200, 3), dtype=np.uint8)


# -- redaction ---------------------------------------------------------------------------------


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(-1) > 0


def test_ellipse_blur_stays_inside_its_shape(textured):
    r = regions([40, 20, 80, 60])
    out = Redactor(RedactOptions(method="blur", mask_scale=1.0))(textured, r)
    ch = changed(textured, out)
    yy, xx = np.mgrid[:100, :200]
    r2 = (xx + 0.5 - 60) ** 2 + (yy + 0.5 - 40) ** 2
    inside = r2 <= 20**2
    assert not ch[r2 > 21**2].any()  # rasterised ellipse: exact to a pixel
    assert ch[r2 <= 19**2].mean() > 0.9
    assert textured[inside].std() > 3 * out[inside].std()  # detail is gone, not just shifted


def test_mask_scale_and_box_shape(textured):
    out = Redactor(RedactOptions(method="solid", shape="box", mask_scale=2.0, color=(1, 2, 3)))(
        textured, regions([40, 20, 60, 40]))
    np.testing.assert_array_equal(mask_boxes(np.array([[40, 20, 60, 40]], np.float32), 2.0), [[30, 10, 70, 50]])
    assert (out[10:50, 30:70] == (1, 2, 3)).all()
    assert not changed(textured, out)[:, :30].any() and not changed(textured, out)[:, 70:].any()


def test_mosaic_block_follows_face_size():
    img = np.random.default_rng(1).integers(0, 256, (300, 600, 3), dtype=np.uint8)
    red = Redactor(RedactOptions(method="mosaic", shape="box", mask_scale=1.0, mosaic=0.25))
    out = red(img, regions([10, 10, 50, 50], [200, 10, 400, 210]))

    def block(patch: np.ndarray) -> float:
        runs = np.diff(np.flatnonzero(np.any(np.diff(patch.astype(int), axis=1) != 0, axis=(0, 2))))
        return float(np.median(runs))

    small, big = block(out[12:48, 10:50]), block(out[20:200, 200:400])
    assert small == pytest.approx(10, abs=1.5) and big == pytest.approx(50, abs=3)


def test_image_replacement_and_none(textured):
    rep = np.zeros((10, 10, 4), np.uint8)
    rep[..., 1] = 255
    rep[..., 3] = 255
    rep[:5, :, 3] = 0  # transparent top half
    out = Redactor(RedactOptions(method="image", shape="box", mask_scale=1.0, replacement=rep))(
        textured, regions([100, 20, 140, 60]))
    assert (out[42:60, 100:140] == (0, 255, 0)).all()
    np.testing.assert_array_equal(out[20:38, 100:140], textured[20:38, 100:140])
    untouched = Redactor(RedactOptions(method="none"))(textured, regions([100, 20, 140, 60]))
    np.testing.assert_array_equal(untouched, textured)
    drawn = Redactor(RedactOptions(method="none", draw_boxes=True))(textured, regions([100, 20, 140, 60]))
    assert changed(textured, drawn).any()


def test_hull_shape_uses_polygons(textured):
    red = Redactor(RedactOptions(method="solid", shape="hull", mask_scale=1.0, color=(255, 0, 0)))
    with pytest.raises(ValueError, match="hull"):
        red(textured, regions([40, 20, 80, 60]))
    tri = np.array([[40, 20], [80, 20], [40, 60]], np.float32)
    out = red(textured, regions([40, 20, 80, 60]), [tri])
    assert (out[22, 42] == (255, 0, 0)).all() and not changed(textured, out)[58, 78]


def test_nested_regions_are_skipped_as_one_by_one_comparison_would():
    """The vectorised skip list equals the sequential rule: largest first, a box is skipped when
    it lies inside the box inscribed in the ellipse of a box already kept."""
    def one_by_one(boxes):
        order = np.argsort(-((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])), kind="stable")
        kept = []
        for i in order:
            for j in kept:
                c, h = (boxes[j, :2] + boxes[j, 2:]) / 2, (boxes[j, 2:] - boxes[j, :2]) / 2 / np.sqrt(2)
                if (boxes[i, :2] >= c - h).all() and (boxes[i, 2:] <= c + h).all():
                    break
            else:
                kept.append(int(i))
        return kept

    rng = np.random.default_rng(3)
    nested_seen = 0
    for _ in range(300):
        n = int(rng.integers(0, 30))
        c, h = rng.uniform(0, 200, (n, 2)), rng.uniform(0, 60, (n, 2))
        if n > 3:  # a face with its held and backfilled copies: same centre, shrinking
            c[1:3], h[1], h[2] = c[0], h[0] * 0.6, h[0] * 0.3
        boxes = np.concatenate([c - h, c + h], 1).astype(np.float32)
        expected = one_by_one(boxes)
        nested_seen += n - len(expected)
        assert _not_covered(boxes).tolist() == expected
    assert nested_seen > 100


@pytest.mark.parametrize("options", [RedactOptions(), RedactOptions(blur=0.03), RedactOptions(method="mosaic")],
                         ids=["blur", "blur-at-full-resolution", "mosaic"])
def test_redaction_is_bit_identical_whatever_the_threading(options):
    # Same frame, same regions -> same bytes, whatever cv2.setNumThreads says and with several
    # frames redacted concurrently (cv2.stackBlur failed this by 1-2 levels).
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(3)
    frame = cv2.resize(rng.integers(0, 256, (108, 192, 3), dtype=np.uint8), (1920, 1080),
                       interpolation=cv2.INTER_CUBIC)
    faces = face_regions(np.array([[300, 200, 900, 900], [1000, 100, 1400, 500], [1500, 600, 1530, 630]],
                                  np.float32), np.zeros((3, 6, 2)), np.ones(3), np.arange(3), np.zeros(3),
                         (1920, 1080))
    red = Redactor(options)
    before = cv2.getNumThreads()
    try:
        outs = []
        for n in (1, 2, 8):
            cv2.setNumThreads(n)
            outs.append(red(frame, faces))
        with ThreadPoolExecutor(4) as pool:
            outs += list(pool.map(lambda _: red(frame, faces), range(8)))
    finally:
        cv2.setNumThreads(before)
    assert changed(frame, outs[0]).mean() > 0.1
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


@pytest.mark.parametrize("level", [2, 30, 128, 253])
@pytest.mark.parametrize("method", ["blur", "mosaic"])
def test_grain_moves_every_pixel_of_a_flat_face_and_nothing_outside(level, method):
    # A blur (or a mosaic) of a flat face barely moves its pixels: the dark, flat faces of the
    # hamilton clip were "unchanged" by more than half (leak_test.py). The grain moves every pixel
    # of the face by its amplitude, near black and near white too, and stays inside the shape.
    img = np.full((120, 200, 3), level, np.uint8)
    img[:, :, 1] = min(255, level + 1)
    face = [70, 30, 130, 90]
    out = Redactor(RedactOptions(method=method))(img, regions(face))
    plain = Redactor(RedactOptions(method=method, grain=0))(img, regions(face))
    diff = np.abs(out.astype(int) - img.astype(int)).max(-1)
    yy, xx = np.mgrid[:120, :200]
    r2 = ((xx + 0.5 - 100) / 30) ** 2 + ((yy + 0.5 - 60) / 30) ** 2
    # The ellipse inscribed in the face box moves by the full amplitude (the mosaic: one value per
    # block, at the block's centre), and leak_test.py's criterion holds on the face box.
    assert (diff[r2 <= (1 if method == "blur" else 0.6)] >= 12).all()
    assert (diff[30:90, 70:130] > 6).mean() > (0.9 if method == "blur" else 0.75)
    assert not diff[r2 > 1.55**2].any()  # nothing outside the redaction ellipse (mask_scale 1.5)
    assert (np.abs(plain.astype(int) - img.astype(int)).max(-1) > 6).mean() == 0  # blur alone: nothing
    shift = out[r2 <= 1].astype(int) - img[r2 <= 1]
    if level == 2:
        assert (shift >= 0).all()  # near black it only lightens
    elif level == 253:
        assert (shift <= 0).all()  # near white it only darkens
    else:
        assert abs(shift.mean()) < (1.5 if method == "blur" else 4)  # elsewhere about the same mean


def test_grain_lies_on_the_frame_grid_and_can_be_turned_off(textured):
    red = Redactor(RedactOptions())
    a = red(textured, regions([40, 20, 80, 60]))
    b = red(textured, regions([40, 20, 80, 60]))
    np.testing.assert_array_equal(a, b)
    flat = np.full((100, 200, 3), 60, np.uint8)
    one = red(flat, regions([40, 20, 80, 60])).astype(int) - 60
    moved = red(flat, regions([44, 20, 84, 60])).astype(int) - 60
    # Where both faces have full grain the pattern is the same pixel for pixel (a still grain on a
    # moving face, not one travelling with it).
    np.testing.assert_array_equal(one[35:45, 60:66], moved[35:45, 60:66])
    assert not (Redactor(RedactOptions(grain=0))(flat, regions([40, 20, 80, 60])) != 60).any()
    with pytest.raises(ValueError, match="grain"):
        RedactOptions(grain=-1)


def test_grain_window_is_the_tile_repeated_over_the_frame():
    """A face's grain is a view of the tile repeated k x k (grown for large windows): the frame-grid
    pattern, for windows at every offset class and size, across the tile's seams, up to a 1080p close-up's;
    and its signs alike."""
    from facepipe.apps.anonymize.redact import _GRAIN_TILE, _grain_signs, _grain_window

    T = _GRAIN_TILE.shape[0]
    frame = np.tile(_GRAIN_TILE, (8, 8))  # the grain over a 2048x2048 frame
    rng = np.random.default_rng(3)
    for y, x, h, w in [(0, 0, T, T), (T - 1, T - 1, T, T), (T - 1, 3, 2, T + 1), (17, 300, 1, 1),
                       (T - 1, T - 1, 2 * T + 1, 3), (5, 700, 1300, 1100), (0, 0, 3, 1700),
                       *((int(a), int(b), int(c), int(d)) for a, b, c, d in zip(rng.integers(0, 700, 60),
                         rng.integers(0, 700, 60), rng.integers(1, 400, 60), rng.integers(1, 400, 60)))]:
        window = _grain_window(y, x, h, w)
        np.testing.assert_array_equal(window, frame[y : y + h, x : x + w])
        lighten, darken = _grain_signs(y, x, h, w)
        np.testing.assert_array_equal(lighten, np.where(window > 0, 255, 0))
        np.testing.assert_array_equal(darken, np.where(window < 0, 255, 0))
        assert not window.flags.writeable and not lighten.flags.writeable


# Regions the anonymizer redacts (its finder and tracker, default options) in frames of shared videos:
# dark stage faces of the hamilton clip (near black: the grain only lightens there), one large face at
# 720p, a 1080p crowd.
_REDACTED_IN = {
    ("fr_short_hamilton_clip.mp4", 60): [[201.9, 85.0, 259.8, 148.0], [458.4, 159.4, 516.5, 217.5],
                                         [344.3, 104.2, 397.6, 157.4], [409.8, 189.4, 458.9, 238.5],
                                         [476.1, 122.2, 612.7, 258.9], [293.1, 179.3, 364.9, 251.0],
                                         [309.3, 63.2, 359.6, 113.4]],
    ("lp_s18_woman_indoor.mp4", 10): [[659.0, 149.0, 906.0, 396.0]],
    ("facenet_pedestrians.mp4", 10): [[911.0, 640.4, 1006.9, 736.2], [1081.7, 630.5, 1152.3, 701.1],
                                      [635.4, 740.6, 752.5, 857.6], [846.5, 561.1, 1006.4, 721.0],
                                      [1644.4, 577.8, 1723.7, 657.1], [1329.0, 670.1, 1354.0, 695.2],
                                      [276.6, 669.7, 350.6, 743.7], [577.9, 806.5, 629.6, 882.0]],
}


@pytest.fixture(scope="module")
def redacted_frames() -> list[tuple[np.ndarray, Detections]]:
    """(frame, regions) for each of `_REDACTED_IN`."""
    from facepipe.io.video import VideoReader

    out = []
    for (video, index), boxes in _REDACTED_IN.items():
        with VideoReader(shared_file(f"videos/{video}")) as reader:
            frame = next(f.image for f in reader if f.index == index)
        b = np.asarray(boxes, np.float32)
        out.append((frame, face_regions(b, np.zeros((len(b), 6, 2)), np.ones(len(b)), np.arange(len(b)),
                                         np.zeros(len(b)), frame.shape[1::-1])))
    return out


@pytest.mark.parametrize("method", ["blur", "mosaic"])
def test_grain_skips_its_extremes_check_only_where_it_changes_nothing(redacted_frames, method, monkeypatch):
    """The blurred face's level range lets the grain skip its near-black/near-white check (the cost
    of a 720p face's whole grain): on real frames the output is byte for byte the checked one, on
    the dark hamilton faces, where the check turns the grain up, and where it is skipped."""
    from facepipe.apps.anonymize import redact

    redactor = Redactor(RedactOptions(method=method))
    skipped = []
    real = redact._may_be_extreme
    monkeypatch.setattr(redact, "_may_be_extreme", lambda *a: skipped.append(not real(*a)) or real(*a))
    fast = [redactor(frame, regs) for frame, regs in redacted_frames]
    monkeypatch.setattr(redact, "_may_be_extreme", lambda *a: True)
    checked = [redactor(frame, regs) for frame, regs in redacted_frames]
    for a, b in zip(fast, checked, strict=True):
        np.testing.assert_array_equal(a, b)
    if method == "blur":  # the mosaic's blocks are few: checked always
        assert any(skipped) and not all(skipped)  # both ways taken
        monkeypatch.setattr(redact, "_may_be_extreme", lambda *a: False)
        assert (redactor(*redacted_frames[0]) != checked[0]).any()  # the check matters on the hamilton faces


def test_grain_added_as_two_uint8_images_is_the_int16_grain():
    """`_add_grain` (the lightening uint8 grain added, the darkening one subtracted) is the signed
    int16 grain added with saturation, level for level: halves rounded alike, near 0 and 255 too,
    into a view of a frame; the sign masks are the grain's signs."""
    from facepipe.apps.anonymize.redact import _add_grain, _grain_signs, _grain_window

    rng = np.random.default_rng(12)
    frame = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    frame[:40] = rng.integers(0, 6, (40, 400, 3))
    frame[-40:] = rng.integers(250, 256, (40, 400, 3))
    for amplitude in (12.0, 64.0, 1.5):
        weight = (rng.random((260, 333)) * (amplitude + 4) - 2).clip(0, amplitude).astype(np.float32)
        weight[::7, ::5] = np.round(weight[::7, ::5] * 2) / 2  # exact halves
        pattern = _grain_window(23, 41, 260, 333)
        n = cv2.multiply(pattern, weight, dtype=cv2.CV_16S)
        expected = frame.copy()
        expected[20:280, 30:363] = cv2.add(expected[20:280, 30:363], cv2.merge([n, n, n]), dtype=cv2.CV_8U)
        got = frame.copy()
        lighten, darken = _grain_signs(23, 41, 260, 333)
        np.testing.assert_array_equal(lighten, np.where(pattern > 0, 255, 0))
        np.testing.assert_array_equal(darken, np.where(pattern < 0, 255, 0))
        _add_grain(got[20:280, 30:363], lighten, darken, weight)
        np.testing.assert_array_equal(got, expected)
        assert (got != frame).any()


def test_blurred_levels_bound_the_blur():
    """`_blur_in_range`'s per-channel range holds every blurred pixel, near black and near white too
    (what lets the grain skip its check), and the blur is `_blur`'s."""
    from facepipe.apps.anonymize.redact import _blur, _blur_in_range

    rng = np.random.default_rng(11)
    for h, w, lo, hi in ((385, 383, 0, 30), (61, 100, 220, 256), (803, 701, 0, 256), (12, 40, 5, 9)):
        roi = cv2.resize(rng.integers(lo, hi, (9, 7, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
        blurred, levels = _blur_in_range(roi, 0.6 * max(h, w))
        np.testing.assert_array_equal(blurred, _blur(roi, 0.6 * max(h, w)))
        assert len(levels[0]) == len(levels[1]) == 3
        assert (blurred.reshape(-1, 3).min(0) >= levels[0]).all() and (blurred.reshape(-1, 3).max(0) <= levels[1]).all()
    assert _blur_in_range(np.zeros((6, 6, 3), np.uint8), 1.0)[1] is None  # a narrow blur: range unknown


def test_options_are_validated():
    with pytest.raises(ValueError, match="method"):
        RedactOptions(method="pixelate")
    with pytest.raises(ValueError, match="replacement"):
        RedactOptions(method="image")
    with pytest.raises(ValueError, match="hold"):
        TrackerOptions(hold=-1)
    with pytest.raises(ValueError, match="min_score"):
        FaceFinderOptions(min_score=0)


# -- tracking and backfill ---------------------------------------------------------------------


def test_tracker_holds_lost_face_along_its_motion():
    tr = FaceTracker(TrackerOptions(hold=3, grow_per_frame=0.0, max_drift=None))
    for f in range(3):
        step = tr.update(dets([100 + 10 * f, 100, 140 + 10 * f, 140]), f)
        assert list(region_sources(step.current)) == [Source.DETECTED]
    ids = {int(step.current.track_ids[0])}
    for f in range(3, 6):  # lost: held, moving on at 10 px/frame
        step = tr.update(dets(), f)
        assert list(region_sources(step.current)) == [Source.HELD]
        assert step.current.xyxy[0, 0] == pytest.approx(100 + 10 * f, abs=1e-3)
        ids.add(int(step.current.track_ids[0]))
    assert len(ids) == 1
    assert len(tr.update(dets(), 6).current) == 0  # past `hold`: gone


def test_held_regions_drift_at_most_half_a_face_from_the_last_sighting():
    """A velocity from one jittery step (a face found again 0.35 of its size away, as crowds give) is
    taken along for at most `max_drift` (0.5) box sizes: the held disc stays on the face, which
    stood still, instead of sliding off it; backfill the same."""
    tr = FaceTracker(TrackerOptions(hold=10))
    for f in range(3):
        tr.update(dets([100, 100, 160, 160]), f)
    tr.update(dets([121, 100, 181, 160]), 3)  # one step of 21 px (0.35 box): velocity capped at 21 px/frame
    centres = [float((b[0] + b[2]) / 2) for b in (tr.update(dets(), f).current.xyxy[0] for f in range(4, 12))]
    assert centres[0] == pytest.approx(151 + 0.6 * 21, abs=1e-3)  # one frame along the smoothed velocity
    assert max(centres) == pytest.approx(151 + 30, abs=1e-3)  # then no farther than half a box (30 px)
    free = FaceTracker(TrackerOptions(hold=10, max_drift=None))
    for f in range(3):
        free.update(dets([100, 100, 160, 160]), f)
    free.update(dets([121, 100, 181, 160]), 3)
    last = free.update(dets(), 11).current.xyxy[0]
    assert (last[0] + last[2]) / 2 > 151 + 90  # unlimited: a face and a half away after 8 frames
    # Backfill along the motion of a moving face stops at half a box too.
    back = FaceTracker(TrackerOptions(hold=10))
    retro = {}
    for f in range(3):
        retro.update(back.update(dets([300 + 12 * f, 100, 360 + 12 * f, 160]), 20 + f).retro)
    xs = [float(r.xyxy[:, 0].min()) for k, r in sorted(retro.items()) if k < 20]
    assert min(xs) >= 300 - 30 - 1e-3
    with pytest.raises(ValueError, match="max_drift"):
        TrackerOptions(max_drift=-1)


def test_held_and_backfilled_regions_keep_the_size_of_the_face():
    # A face whose box shrinks from both sides as it is tracked (edges moving towards each other):
    # held forward and backfilled regions translate with its centre at its last size. Moving each
    # edge by its own velocity turned held boxes inside out (x1 < x0) or grew them past a head.
    tr = FaceTracker(TrackerOptions(hold=15, grow_per_frame=0.0))
    retro = {}
    for f in range(4):
        step = tr.update(dets([100 + 6 * f + 3 * f, 100, 200 - 6 * f + 3 * f, 200]), 20 + f)
        retro.update(step.retro)
    last_w = (200 - 18) - (100 + 18)
    for f in range(4, 19):
        held = tr.update(dets(), 20 + f).current
        w = held.xyxy[:, 2] - held.xyxy[:, 0]
        assert len(held) == 1 and w[0] == pytest.approx(last_w, abs=1e-3)
        assert (held.xyxy[0, 0] + held.xyxy[0, 2]) / 2 == pytest.approx(150 + 3 * f, abs=1e-3)  # moves on
    assert min(retro) == 20 - 15
    for box in (r.xyxy for r in retro.values()):
        assert ((box[:, 2] - box[:, 0]) > 0).all() and ((box[:, 2] - box[:, 0]) <= 100 + 1e-3).all()


def test_tracker_backfills_and_interpolates():
    tr = FaceTracker(TrackerOptions(hold=4, grow_per_frame=0.1))
    step = tr.update(dets([200, 200, 240, 240]), 10)
    assert sorted(step.retro) == [6, 7, 8, 9]  # the frames before its first detection
    b6 = step.retro[6].xyxy[0]
    assert (b6[2] - b6[0]) == pytest.approx(40 * 1.4)  # grows with distance from the detection
    assert set(region_sources(step.retro[9])) == {Source.BACKFILLED}
    tr.update(dets(), 11)
    tr.update(dets(), 12)
    step = tr.update(dets([230, 200, 270, 240]), 13)  # found again 30 px further: fill the gap
    assert sorted(step.retro) == [11, 12]
    assert step.retro[11].xyxy[0, 0] == pytest.approx(210) and step.retro[12].xyxy[0, 0] == pytest.approx(220)
    assert set(region_sources(step.retro[11])) == {Source.INTERPOLATED}


def test_no_track_crosses_a_scene_cut():
    def run(cut: bool):
        tr = FaceTracker(TrackerOptions(hold=5, grow_per_frame=0.0))
        retro = {}
        for f in range(6):  # shot 1: a face on the left, lost at frame 4
            step = tr.update(dets([100, 100, 140, 140]) if f < 4 else dets(), f)
            retro.update(step.retro)
        step = tr.update(dets([400, 100, 440, 140]), 6, new_shot=6 if cut else None)  # shot 2: another face
        retro.update(step.retro)
        return step, tr, retro

    step, tr, retro = run(cut=False)
    assert list(region_sources(step.current)) == [Source.DETECTED, Source.HELD]  # shot 1's face held on
    assert any(r.xyxy[0, 0] == 400 for f, r in retro.items() if f < 6)  # shot 2's face backfilled into shot 1
    step, tr, retro = run(cut=True)
    assert list(region_sources(step.current)) == [Source.DETECTED] and tr.active_tracks == 1
    assert not [f for f, r in retro.items() if f < 6 and (r.xyxy[:, 0] == 400).any()]
    # A cut confirmed late (live): tracks begun since the cut stay, the others end (also one that
    # matched a face of the new shot).
    tr = FaceTracker(TrackerOptions(hold=5))
    tr.update(dets([100, 100, 140, 140]), 0)
    tr.update(dets([102, 100, 142, 140], [400, 100, 440, 140]), 1)
    step = tr.update(dets(), 2, new_shot=1)
    assert tr.active_tracks == 1 and step.current.xyxy[0, 0] == pytest.approx(400)
    with pytest.raises(ValueError, match="after frame"):
        tr.update(dets(), 3, new_shot=4)


def test_two_faces_keep_their_tracks():
    tr = FaceTracker()
    a, b = [10, 10, 50, 50], [300, 10, 340, 50]
    s1 = tr.update(dets(a, b), 0)
    s2 = tr.update(dets([305, 12, 345, 52], [14, 10, 54, 50]), 1)  # order swapped, both moved
    assert list(s2.current.track_ids[:2]) == [s1.current.track_ids[1], s1.current.track_ids[0]]


def test_backfill_buffer_releases_late_with_retro_regions():
    buf = BackfillBuffer(2)
    out = []
    for i in range(5):
        out += buf.push(i, f"frame{i}", regions() if i != 3 else regions([0, 0, 10, 10]))
        if i == 3:
            buf.add({1: regions([5, 5, 9, 9]), 2: regions([5, 5, 9, 9]), 0: regions([1, 1, 2, 2])})
    out += buf.flush()
    assert [i for i, _, _ in out] == [0, 1, 2, 3, 4]
    counts = {i: len(r) for i, _, r in out}
    assert counts == {0: 0, 1: 0, 2: 1, 3: 1, 4: 0}  # frame 0 and 1 had left; 2 was still held


# -- tiling and detection ----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (3840, 2160), (720, 1280)])
def test_tiles_cover_the_frame_with_enough_overlap(size):
    W, H = size
    rng = MODEL_RANGES["full_dense"]
    tiles = plan_tiles(W, H, 20, rng)
    assert tiles
    for k in sorted({t.k for t in tiles}):
        level = [t for t in tiles if t.k == k]
        cover = np.zeros((H, W), np.uint8)
        for t in level:
            cover[t.y0 : t.y1, t.x0 : t.x1] = 1
        assert cover.all()
        # Any face up to the level's overlap lies whole inside one tile: check on a grid.
        ov = level[0].overlap
        for cx in np.linspace(ov, W - ov, 15):
            for cy in np.linspace(ov, H - ov, 9):
                assert any(t.x0 <= cx - ov / 2 and cx + ov / 2 <= t.x1 and t.y0 <= cy - ov / 2
                           and cy + ov / 2 <= t.y1 for t in level)
    finest = max(t.k for t in tiles)
    assert 20 * finest >= rng.lo - 1e-6  # a 20 px face reaches the model's reliable size
    assert plan_tiles(W, H, None, rng) == []


def test_small_frames_scan_all_their_tiles_every_frame():
    # Frames with at most full_scan_tiles tiles (512², 9 tiles: lp_d11, lp_d12, sadtalker) are scanned
    # whole every frame, as before the period went to 8 (at period 2 the sadtalker clip's changed
    # share rose from 55.5 to 57.3 %).
    from facepipe.io.video import VideoReader

    with VideoReader(shared_file("videos/sadtalker_aoc_talking.mp4")) as r:
        frame = next(iter(r)).image
    finder = FaceFinder(FaceFinderOptions())
    tiles = finder.tiles_for(frame.shape[1], frame.shape[0], "full_dense")
    assert 1 < len(tiles) <= finder.options.full_scan_tiles
    scanned: list[int] = []
    run = finder._run_view
    finder._run_view = lambda det, name, img, mirror, x0, y0, s, parts, ids, tile, *a: (
        scanned.append(tile is not None) or run(det, name, img, mirror, x0, y0, s, parts, ids, tile, *a))
    for index in range(3):
        scanned.clear()
        finder.detect_frame(frame, index)
        assert sum(scanned) == len(tiles)
    with pytest.raises(ValueError, match="full_scan_tiles"):
        FaceFinderOptions(full_scan_tiles=-1)
    # --crowd keeps its scans: at least 6 tiles a frame, as before the video default went to 4.
    assert FaceFinderOptions.for_crowds(tile_period=4).min_tiles_per_frame == 6


def _blocks(tiles: list[Tile]) -> list[list[int]]:
    """Indices of the tiles of every 2x2 block of neighbours, per tile level."""
    out = []
    for k in sorted({t.k for t in tiles}):
        idx = [i for i, t in enumerate(tiles) if t.k == k]
        xs, ys = sorted({tiles[i].x0 for i in idx}), sorted({tiles[i].y0 for i in idx})
        at = {(ys.index(tiles[i].y0), xs.index(tiles[i].x0)): i for i in idx}
        out += [[at[(r, c)], at[(r, c + 1)], at[(r + 1, c)], at[(r + 1, c + 1)]]
                for r in range(len(ys) - 1) for c in range(len(xs) - 1)]
    return out


@pytest.mark.parametrize("video", ["lp_s18_woman_indoor.mp4", "facenet_pedestrians.mp4", "lp_s13_dance_fullbody.mp4"])
def test_a_streams_tile_turns_spread_each_block_of_neighbours_over_the_period(video):
    # A face lies in up to 2x2 overlapping tiles of a level; a stream scans each tile once per period.
    # The turns put the four tiles of every block on four different frames (the row-major order
    # put a block on two frames of eight at 720p: 8 columns), with nearly equal tiles per frame.
    from facepipe.io.video import VideoReader

    with VideoReader(shared_file(f"videos/{video}")) as r:
        frame = next(iter(r)).image
    H, W = frame.shape[:2]
    finder = FaceFinder(FaceFinderOptions())
    tiles = finder.tiles_for(W, H, "full_dense")
    for period in (5, 6, 7, 8):
        phases = tile_phases(tiles, period)
        assert sorted(set(phases.tolist())) <= list(range(period))
        assert np.bincount(phases, minlength=period).max() <= -(-len(tiles) // period) + 1
        for block in _blocks(tiles):
            assert len(set(phases[block].tolist())) == 4, (period, block)
    # Where the row-major order already did that (period 5 at 720p), it is kept.
    if (W, H) == (1280, 720):
        np.testing.assert_array_equal(tile_phases(tiles, 5), np.arange(len(tiles)) % 5)
    # The stream itself: over one period, every tile is scanned exactly once.
    o = finder.options
    period = min(o.tile_period, len(tiles) // o.min_tiles_per_frame)
    assert period > 1 and len(tiles) > o.full_scan_tiles
    seen: list[tuple[int, int, float]] = []
    run = finder._run

    def record(name, views, parts, view_ids, tiles_, *a, **kw):
        if tiles_ is not None:
            seen.extend((t.x0, t.y0, t.k) for t in tiles_)
        return run(name, views, parts, view_ids, tiles_, *a, **kw)

    finder._run = record
    for index in range(period):
        finder.detect_frame(frame, index)
    assert sorted(seen) == sorted((t.x0, t.y0, t.k) for t in tiles)


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    model_path("face_detection_full_range")
    model_path("face_detection_short_range")
    return FaceFinder(FaceFinderOptions(tile_period=1))


def test_20px_faces_in_1080p_are_found(finder):
    """A real face shrunk to 20 px, pasted at places including tile borders of a 1080p frame."""
    face = read_image(shared_file("faces/pyfeat_single_face.jpg"))
    yn = cv2.FaceDetectorYN.create(str(shared_file("../models/face_detection_yunet_2023mar.onnx")), "",
                                   (face.shape[1], face.shape[0]), 0.8)
    _, found = yn.detect(face[..., ::-1].copy())
    x, y, w, h = found[0][:4]
    cx, cy, s = x + w / 2, y + h / 2, max(w, h)
    crop = face[int(cy - s):int(cy + s), int(cx - s):int(cx + s)]
    small = cv2.resize(crop, (40, 40), interpolation=cv2.INTER_AREA)  # face ~20 px wide
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[:] = cv2.GaussianBlur(np.random.default_rng(2).integers(60, 140, (1080, 1920, 3)).astype(np.uint8),
                                (0, 0), 3)
    tiles = finder.tiles_for(1920, 1080)
    xs = sorted({t.x1 for t in tiles if t.x1 < 1920})[:3]
    spots = [(300, 200), (xs[0] - 20, 500), (xs[1] - 10, 800), (1500, 150), (960, 540)]
    for sx, sy in spots:
        frame[sy - 20:sy + 20, sx - 20:sx + 20] = small
    d = finder.detect(frame)
    centres = (d.xyxy[:, :2] + d.xyxy[:, 2:]) / 2
    for sx, sy in spots:
        assert (np.linalg.norm(centres - (sx, sy), axis=1) < 10).any(), (sx, sy)
    assert len(d) <= len(spots) + 2


def test_group_photo_every_face_found(finder):
    img = read_image(shared_file("groups/if_t1.jpg"))
    yn = cv2.FaceDetectorYN.create(str(shared_file("../models/face_detection_yunet_2023mar.onnx")), "",
                                   (img.shape[1], img.shape[0]), 0.8)
    _, ref = yn.detect(img[..., ::-1].copy())
    d = FaceFinder(FaceFinderOptions.for_images()).detect(img)
    for x, y, w, h in ref[:, :4]:
        c = np.array([x + w / 2, y + h / 2])
        assert ((d.xyxy[:, 0] < c[0]) & (c[0] < d.xyxy[:, 2]) & (d.xyxy[:, 1] < c[1]) & (c[1] < d.xyxy[:, 3])).any()
    assert (d.wh.max(1) < 0.3 * img.shape[0]).all()  # no frame-sized false positive


def _yunet_faces(img: np.ndarray) -> np.ndarray:
    yn = cv2.FaceDetectorYN.create(str(shared_file("../models/face_detection_yunet_2023mar.onnx")), "",
                                   (img.shape[1], img.shape[0]), 0.8, 0.3, 5000)
    _, ref = yn.detect(img[..., ::-1].copy())
    return np.zeros((0, 4)) if ref is None else ref[:, :4]


def _missed(ref_xywh: np.ndarray, d: Detections) -> int:
    """YuNet faces whose centre no detection's redaction ellipse (mask_scale 1.5) contains."""
    c = ref_xywh[:, :2] + ref_xywh[:, 2:] / 2
    dc = (d.xyxy[:, :2] + d.xyxy[:, 2:]) / 2
    half = d.wh * 0.75
    inside = (((c[:, None] - dc[None]) / np.maximum(half[None], 1e-6)) ** 2).sum(-1) <= 1
    return int((~inside.any(1)).sum())


def test_crowd_tiles_cover_crowds_and_add_nothing_to_portraits():
    model_path("face_detection_full_range")
    model_path("face_detection_short_range")
    with_crowd = FaceFinder(FaceFinderOptions.for_images())
    without = FaceFinder(FaceFinderOptions.for_images(crowd_tile_models=()))
    crowd = read_image(shared_file("groups/lz_25.jpg"))
    ref = _yunet_faces(crowd)
    assert len(ref) > 100
    missed_with, missed_without = _missed(ref, with_crowd.detect(crowd)), _missed(ref, without.detect(crowd))
    assert missed_with <= 2 and missed_without >= missed_with + 3, (missed_with, missed_without)
    # A portrait on which the short-range model, tiled, fires on hair (scores up to 0.59):
    # one face is no crowd, so the regions are exactly those found without the crowd tiles.
    portrait = read_image(shared_file("faces/if_attr_2963.jpg"))
    a, b = with_crowd.detect(portrait), without.detect(portrait)
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    assert len(a) >= 1 and _missed(_yunet_faces(portrait), a) == 0


def test_crowd_faces_missed_by_plain_crowd_tiles_are_found():
    """lz_17: the faces of 14-30 px, half hidden by hands and heads, that the short-range
    model finds only on mirrored or enlarged tiles (9 of them were left visible before)."""
    model_path("face_detection_full_range")
    model_path("face_detection_short_range")
    crowd = read_image(shared_file("groups/lz_17.jpg"))
    ref = _yunet_faces(crowd)
    plain = FaceFinder(FaceFinderOptions.for_images(mirror_tile_models=(), crowd_max_zoom=1.0)).detect(crowd)
    full = FaceFinder(FaceFinderOptions.for_images()).detect(crowd)
    assert _missed(ref, full) + 3 <= _missed(ref, plain), (_missed(ref, full), _missed(ref, plain))


def test_mirrored_view_maps_back_onto_the_face():
    model_path("face_detection_short_range")
    face = read_image(shared_file("faces/mp_sergey.png"))
    k = 128 / max(face.shape[:2])
    view = cv2.resize(face, (round(face.shape[1] * k), round(face.shape[0] * k)), interpolation=cv2.INTER_AREA)
    finder = FaceFinder(FaceFinderOptions.for_images())
    detector = finder._detector("short")
    out = {}
    for mirror in (False, True):
        parts, ids = [], []
        finder._run_view(detector, "short", view, mirror, 10.0, 20.0, 1 / k, parts, ids, None, 0.0)
        best = int(np.argmax(parts[0].scores))
        out[mirror] = parts[0].xyxy[best], parts[0].keypoints[best]
    (b0, k0), (b1, k1) = out[False], out[True]
    side = (b0[2:] - b0[:2]).max()
    assert np.abs(b0 - b1).max() < 0.08 * side
    # Keypoints keep their meaning (eye 0 stays eye 0) after the flip back.
    assert np.abs(k0 - k1).max() < 0.08 * side


@pytest.mark.parametrize("bad", [{"mirror_tile_models": ("tiny",)}, {"crowd_max_zoom": 0.0},
                                 {"crowd_body_depth": -1.0}])
def test_finder_options_are_checked(bad):
    with pytest.raises(ValueError):
        FaceFinderOptions(**bad)


def test_body_zone_and_crowd_tile_selection():
    face = np.array([[100, 100, 140, 150]], np.float32)  # 40 x 50 px
    boxes = np.array([
        [105, 200, 145, 240],   # on the chest: 2 face heights below the chin
        [110, 500, 150, 540],   # at the knees: beyond 5 face heights
        [200, 200, 240, 240],   # beside the body
        [90, 160, 190, 260],    # much bigger than the face: someone in front
        [100, 40, 140, 90],     # above the face
    ], np.float32)
    # BlazeFace keypoints: right eye, left eye, nose, mouth, ears; upright: mouth below the eyes.
    kps = np.array([[[110, 115], [130, 115], [120, 125], [120, 140], [100, 118], [140, 118]]], np.float32)
    np.testing.assert_array_equal(on_body(boxes, face, kps, 5.0), [True, False, False, False, False])
    assert not on_body(boxes, face[:0], kps[:0], 5.0).any()
    # The same scene turned 90 degrees clockwise (x, y) -> (H - y, x): "below" turns with the face.
    def turn(p):
        return np.stack([600 - p[..., 1], p[..., 0]], -1)

    def turn_boxes(b):
        corners = np.stack([turn(b[:, :2]), turn(b[:, 2:])], 1)
        return np.concatenate([corners.min(1), corners.max(1)], 1)

    np.testing.assert_array_equal(on_body(turn_boxes(boxes), turn_boxes(face), turn(kps), 5.0),
                                  [True, False, False, False, False])
    # Keypoints of an upright face at the turned face's place: the chest is beside it, not below.
    shift = (turn_boxes(face)[0, :2] + turn_boxes(face)[0, 2:]) / 2 - (face[0, :2] + face[0, 2:]) / 2
    assert not on_body(turn_boxes(boxes), turn_boxes(face), kps + shift, 5.0)[0]
    tiles = [Tile(0, 0, 100, 100, 1.0), Tile(1000, 1000, 1100, 1100, 1.0)]
    anchors = np.array([[110, 110, 130, 130], [140, 110, 160, 130], [170, 110, 190, 130]], np.float32)
    assert tiles_near(tiles, anchors, 3, 6.0) == tiles[:1]
    assert tiles_near(tiles, anchors, 4, 6.0) == []  # too few faces for a crowd anywhere
    assert tiles_near(tiles, anchors[:0], 1, 6.0) == []


def test_anonymizer_frame_by_frame(finder):
    img = read_image(shared_file("faces/mp_sergey.png"))
    an = Anonymizer(detector=finder)
    r1 = an.process_frame(img)
    assert len(r1.regions) == 1 and r1.index == 0
    face = r1.regions.xyxy[0].astype(int)
    patch = slice(face[1], face[3]), slice(face[0], face[2])
    assert np.abs(r1.image[patch].astype(int) - img[patch]).mean() > 10
    blank = np.full_like(img, 128)
    r2 = an.process_frame(blank)  # face gone: held where it was
    assert list(region_sources(r2.regions)) == [Source.HELD] and r2.index == 1


def test_hull_follows_the_face_mesh(finder):
    model_path("face_landmark")
    from facepipe.apps.anonymize.options import AnonymizeOptions

    img = read_image(shared_file("faces/mp_sergey.png"))
    an = Anonymizer(AnonymizeOptions(redact=RedactOptions(method="solid", shape="hull", mask_scale=1.0,
                                                          color=(255, 0, 255))), detector=finder)
    res = an.process_image(img)
    (poly,) = an.hulls(img, res.regions)
    assert poly is not None and poly.shape == (468, 2)
    painted = (res.image == (255, 0, 255)).all(-1)
    lo, hi = poly.min(0).astype(int), poly.max(0).astype(int)
    assert painted[(lo[1] + hi[1]) // 2, (lo[0] + hi[0]) // 2]  # face centre covered
    assert not painted[lo[1] + 2, lo[0] + 2] and not painted[lo[1] + 2, hi[0] - 2]  # hull corners are not
    assert not painted[: max(0, lo[1] - 3)].any()  # nothing above the face


def test_detection_at_reduced_scale_maps_back_to_full_resolution(finder):
    img = read_image(shared_file("groups/fr_two_people.jpg"))
    full = finder.detect(img)
    half = FaceFinder(FaceFinderOptions(tile_period=1, scale=0.5)).detect(img)
    assert len(full) >= 2 and len(half) >= 2
    for box in full.xyxy[full.scores > 0.7]:
        d = np.abs(half.xyxy - box).max(1)
        assert d.min() < 0.1 * (box[2] - box[0])


def test_weak_single_sightings_can_be_held_briefly():
    tr = FaceTracker(TrackerOptions(hold=10, confirm_score=0.5, unconfirmed_hold=2))
    weak = Detections(np.array([[10, 10, 50, 50]], np.float32), np.zeros((1, 6, 2)), np.array([0.35]), (640, 480))
    assert sorted(tr.update(weak, 20).retro) == [18, 19]  # one weak sighting: backfilled 2 frames, not 10
    assert len(tr.update(dets(), 21).current) == 1 and len(tr.update(dets(), 22).current) == 1
    assert len(tr.update(dets(), 23).current) == 0  # dropped after 2 frames, not 10
    tr.update(weak, 30)
    step = tr.update(weak, 31)  # seen again: confirmed, backfilled now
    assert min(step.retro) == 20 and max(step.retro) == 29


def test_unverified_detections_only_continue_tracks():
    """Detections marked unverified (FaceFinderOptions.verify.mark_only) start no track and are
    not redacted alone, but one that continues a tracked face is that face, weakly seen."""
    tr = FaceTracker(TrackerOptions(hold=5))

    def marked(boxes, verified):
        d = dets(*boxes)
        return replace(d, extras={"verified": np.asarray(verified, bool)})

    step = tr.update(marked([[10, 10, 50, 50], [300, 300, 340, 340]], [True, False]), 0)
    assert step.current.xyxy.tolist() == [[10, 10, 50, 50]] and tr.active_tracks == 1
    step = tr.update(marked([[12, 10, 52, 50], [300, 300, 340, 340]], [False, False]), 1)
    assert step.current.xyxy.tolist() == [[12, 10, 52, 50]]
    assert region_sources(step.current).tolist() == [Source.DETECTED]
    assert tr.active_tracks == 1


def test_video_defaults_find_the_dark_cut_off_face_of_the_hamilton_clip():
    """Frame 215 of the hamilton clip: a dark face cut by the right border that only the sparse
    full-range model scores (0.33); before it joined the video defaults, it leaked in 25 frames."""
    from facepipe.io.video import VideoReader

    with VideoReader(shared_file("videos/fr_short_hamilton_clip.mp4")) as reader:
        frame = next(f.image for f in reader if f.index == 215)
    yunet_box = np.array([584, 51, 584 + 49, 51 + 69], np.float32)  # YuNet, score 0.81

    def best_cover(options: FaceFinderOptions) -> float:
        xyxy = FaceFinder(options).detect(frame).xyxy
        inter = np.clip(np.minimum(xyxy[:, 2:], yunet_box[2:]) - np.maximum(xyxy[:, :2], yunet_box[:2]), 0, None)
        return float((inter.prod(axis=1) / (yunet_box[2:] - yunet_box[:2]).prod()).max(initial=0.0))

    assert best_cover(FaceFinderOptions(tile_period=1)) > 0.5
    # The case really needs the sparse model: the other two leave the face uncovered.
    assert best_cover(FaceFinderOptions(tile_period=1, whole_models=("full_dense", "short"))) < 0.5


def test_mask_scale_default_follows_the_shape():
    """The per-shape default lives in RedactOptions (the CLI used to choose it): 1.5 around
    ellipses and boxes, 1.1 around the hull, which follows the face; given values win."""
    from dataclasses import replace

    assert RedactOptions().effective_mask_scale == 1.5
    assert RedactOptions(shape="hull").effective_mask_scale == 1.1
    assert replace(RedactOptions(), shape="hull").effective_mask_scale == 1.1
    assert RedactOptions(shape="hull", mask_scale=2.0).effective_mask_scale == 2.0
    with pytest.raises(ValueError, match=r"mask_scale must be in \[0.5, 5\]"):
        RedactOptions(mask_scale=9.0)


def test_verifier_drops_the_blobs_of_the_quick_start_photo_and_keeps_its_faces():
    """The README's group photo: BlazeFace, tiled at photo settings, also fires on the books,
    the plant, a raised hand and a shirt button; the second opinion keeps only the faces."""
    model_path("face_detection_full_range")
    model_path("face_detection_short_range")
    img = read_image(shared_file("groups/tfjs_three_people.jpg"))
    ref = _yunet_faces(img)
    unverified = FaceFinder(FaceFinderOptions.for_images(verify=VerifyOptions())).detect(img)
    verified = FaceFinder(FaceFinderOptions.for_images()).detect(img)
    assert len(ref) == 3 and _missed(ref, unverified) == 0 and _missed(ref, verified) == 0
    assert len(unverified) >= len(ref) + 5, len(unverified)
    assert len(verified) <= len(ref) + 1, verified.xyxy


def test_verifier_confirms_a_face_rejects_texture_and_finds_the_face_beside_a_box():
    face = read_image(shared_file("faces/pyfeat_single_face.jpg"))
    (x, y, w, h), = _yunet_faces(face)[:1]
    box = np.array([x, y, x + w, y + h], np.float32)
    kps = np.repeat(((box[:2] + box[2:]) / 2)[None, None], 6, 1)
    texture = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, face.shape).astype(np.uint8), (0, 0), 2)
    verifier = FaceVerifier(VerifyOptions(below=1.0))
    size = (face.shape[1], face.shape[0])
    ok, _ = verifier(face, Detections(box[None], kps, [0.3], size))
    assert ok.tolist() == [True]
    ok, found = verifier(texture, Detections(box[None], kps, [0.3], size))
    assert ok.tolist() == [False] and len(found) == 0
    # A box on the hair above the face (as BlazeFace puts on a crowd face it does not find): not a
    # face itself, but YuNet's crop shows the face below it, which comes back as a detection.
    hair = box - np.array([0, 0.8 * h, 0, 0.8 * h], np.float32)
    ok, found = verifier(face, Detections(hair[None], kps - (0, 0.8 * h), [0.3], size))
    assert ok.tolist() == [False] and len(found) == 1
    iou = _iou(found.xyxy[0], box)
    assert iou > 0.6, iou


def test_yunet_sees_the_bgr_crop_resized(monkeypatch):
    """The verifier resizes its YuNet crops before turning them BGR (no channel-reversed copy of the
    full-resolution crop): YuNet's inputs are the pixels of resizing that copy, on the weak boxes of a
    1080p crowd frame (crops shrunk and enlarged)."""
    from facepipe.io.video import VideoReader

    with VideoReader(shared_file("videos/facenet_pedestrians.mp4")) as r:
        frame = next(iter(r)).image
    finder = FaceFinder(FaceFinderOptions(verify=VerifyOptions()))  # no second opinion: keep the weak boxes
    weak = finder.detect(frame)
    weak = weak[weak.scores < 0.8]
    verifier = FaceVerifier(VerifyOptions(below=1.0))
    seen: list[np.ndarray] = []
    run = verifier._run_yunet
    monkeypatch.setattr(verifier, "_run_yunet", lambda crop: seen.append(crop) or run(crop))
    expected, zooms, H, W = [], [], *frame.shape[:2]
    for box in weak.xyxy:
        verifier._yunet_faces(frame, box)
        side = float(max(box[2] - box[0], box[3] - box[1], 1.0))
        c, half = (box[:2] + box[2:]) / 2, 1.5 * side
        x0, y0 = int(max(0, c[0] - half)), int(max(0, c[1] - half))
        x1, y1 = int(min(W, c[0] + half)), int(min(H, c[1] + half))
        k = 48.0 / side
        zooms.append(k)
        w, h = max(8, round((x1 - x0) * k)), max(8, round((y1 - y0) * k))
        expected.append(cv2.resize(np.ascontiguousarray(frame[y0:y1, x0:x1, ::-1]), (w, h),
                                   interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR))
    assert len(seen) == len(expected) >= 5
    assert min(zooms) < 1 < max(zooms)  # crops shrunk (area) and enlarged (bilinear)
    for got, want in zip(seen, expected, strict=True):
        assert got.flags.c_contiguous and np.array_equal(got, want)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None).prod()
    return float(inter / ((a[2:] - a[:2]).prod() + (b[2:] - b[:2]).prod() - inter))


def test_a_videos_detections_do_not_depend_on_what_the_finder_saw_before():
    # One FaceFinder serves every file of a run. In a 1080p stream it scans a quarter of its tiles per frame,
    # chosen by the frame's number in its video, not by how many frames the finder has seen: otherwise a video
    # anonymized after another one came out different from the same video anonymized alone.
    from facepipe.apps.anonymize.options import AnonymizeOptions
    from facepipe.apps.anonymize.pipeline import OfflineAnonymizer
    from facepipe.io.video import VideoReader

    with VideoReader(shared_file("videos/facenet_pedestrians.mp4")) as r:
        first = next(iter(r)).image
    options = AnonymizeOptions()
    used = FaceFinder(options.detect)
    assert len(used.detect_frame(first, 1).xyxy) != len(used.detect_frame(first, 0).xyxy)  # the turn matters here
    used(first)  # an earlier frame of another video

    def regions(detector: FaceFinder) -> np.ndarray:
        off = OfflineAnonymizer(options, detector=detector)
        released = off.push(first.copy()) + off.flush()
        return released[0][0].regions.xyxy

    np.testing.assert_array_equal(regions(used), regions(FaceFinder(options.detect)))


def test_blur_on_a_shrunken_copy_matches_a_plain_area_resize():
    # The wide blur shrinks the region by exact halvings before the last area step (the fast path
    # of OpenCV): within a few levels of the blur of one general area resize, and as flat.
    import math

    from facepipe.apps.anonymize.redact import _BOX_AT_SCALE, _blur, _box3

    rng = np.random.default_rng(5)
    for h, w in ((385, 383), (61, 100), (803, 701)):
        roi = cv2.resize(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
        sigma = 0.4 * max(h, w)
        f = _BOX_AT_SCALE / math.sqrt(4 * sigma * sigma + 1)
        small = cv2.resize(roi, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        plain = cv2.resize(_box3(small, _BOX_AT_SCALE), (w, h), interpolation=cv2.INTER_LINEAR).astype(int)
        fast = _blur(roi, sigma).astype(int)
        assert np.abs(fast - plain).max() <= 8 and np.abs(fast - plain).mean() < 2.5
        assert fast.std() < roi.std() / 10


def test_masked_copy_writes_into_the_frame_in_place(textured):
    # The ellipse is pasted with OpenCV's masked copy into a view of the frame: inplace=True
    # changes the caller's frame, and only inside the ellipse.
    frame = textured.copy()
    out = Redactor(RedactOptions(method="solid", color=(255, 0, 0), mask_scale=1.0))(frame, regions([40, 20, 80, 60]),
                                                                                      inplace=True)
    assert out is frame
    yy, xx = np.mgrid[:100, :200]
    r2 = (xx + 0.5 - 60) ** 2 + (yy + 0.5 - 40) ** 2
    assert (frame[r2 <= 19**2] == (255, 0, 0)).all()
    np.testing.assert_array_equal(frame[r2 > 21**2], textured[r2 > 21**2])


def _record_detector_calls(finder: FaceFinder) -> list[str]:
    """The names of the finder's detectors, in the order they run from now on."""
    calls: list[str] = []
    for name, det in finder._detectors.items():
        orig = det.detect
        det.detect = lambda img, _o=orig, _n=name: calls.append(_n) or _o(img)
    return calls


def test_zoomed_out_views_take_turns_in_a_stream():
    # Stream frames run one zoomed-out view each (zoom_period 2); a still image runs both.
    finder = FaceFinder(FaceFinderOptions(min_face=None, whole_turns=()))
    calls = _record_detector_calls(finder)
    img = np.full((90, 160, 3), 128, np.uint8)
    whole = list(finder.options.whole_models)
    for index, zoom in ((0, "full_dense"), (1, "short"), (2, "full_dense")):
        calls.clear()
        finder.detect_frame(img, index)
        assert calls == [*whole, zoom]
    calls.clear()
    finder.detect(img)
    assert calls == [*whole, "full_dense", "short"]


def test_dense_and_sparse_whole_frame_views_take_turns_in_a_stream():
    # whole_turns: the two full-range files see the whole frame on alternate frames of a stream,
    # the short-range model every frame; a still image runs all three.
    assert FaceFinderOptions().whole_turns == ()  # off by default: tracks stay on one face (RESULTS.md)
    finder = FaceFinder(FaceFinderOptions(min_face=None, zoom_out=1.0, whole_turns=("full_dense", "full")))
    calls = _record_detector_calls(finder)
    img = np.full((90, 160, 3), 128, np.uint8)
    for index, expected in ((0, ["full_dense", "short"]), (1, ["short", "full"]), (2, ["full_dense", "short"])):
        calls.clear()
        finder.detect_frame(img, index)
        assert calls == expected
    calls.clear()
    finder.detect(img)
    assert calls == ["full_dense", "short", "full"]
    # Fewer than two of them among whole_models: no turns.
    finder = FaceFinder(FaceFinderOptions(min_face=None, zoom_out=1.0, whole_models=("full_dense", "short")))
    calls = _record_detector_calls(finder)
    finder.detect_frame(img, 1)
    assert calls == ["full_dense", "short"]
    with pytest.raises(ValueError, match="whole_turns"):
        FaceFinderOptions(whole_turns=("full_dense", "nope"))


def test_a_big_weak_box_whose_crop_is_the_frame_is_not_detected_again():
    # A large weak box seen by one view is re-detected in a crop 3x its size; when that crop is the
    # whole frame, the other models have already seen it as whole-frame views: no model runs again.
    finder = FaceFinder(FaceFinderOptions(min_face=None))
    calls = _record_detector_calls(finder)
    img = np.full((90, 160, 3), 128, np.uint8)
    assert not finder._found_in_crop(img, np.array([30, 10, 130, 80], np.float32), "short")
    assert calls == []
    finder._found_in_crop(img, np.array([70, 40, 90, 60], np.float32), "short")  # a crop inside the frame
    assert calls and "short" not in calls


def test_a_big_weak_box_is_checked_by_one_model_of_each_other_family():
    """A large weak box that only the short-range model found is re-detected in a crop by the
    full-range family: by its sparse file alone, not by the dense file as well (on the signer's
    hands of tfjs_asl_hand most of these boxes are rejected, and asking both files cost ~8 ms a
    frame); a full-range box is asked of the short-range file."""
    from facepipe.io.video import VideoReader

    finder = FaceFinder(FaceFinderOptions())
    with VideoReader(shared_file("videos/tfjs_asl_hand.mp4")) as reader:
        frames = [f.image.copy() for f in reader if f.index < 6]
    checks: list[tuple[str, list[str]]] = []
    found_in_crop = finder._found_in_crop

    def recorded(img, box, found_by):
        calls = _record_detector_calls(finder)
        try:
            return found_in_crop(img, box, found_by)
        finally:
            checks.append((found_by, list(calls)))
            for det in finder._detectors.values():  # undo the recording
                det.__dict__.pop("detect", None)

    finder._found_in_crop = recorded
    for i, frame in enumerate(frames):
        finder.detect_frame(frame, i)
    short = [calls for found_by, calls in checks if found_by == "short"]
    assert short, checks  # the clip has such boxes in its first frames
    assert all(calls == ["full"] for calls in short), short
    finder = FaceFinder(FaceFinderOptions(min_face=None))
    calls = _record_detector_calls(finder)
    finder._found_in_crop(frames[0], np.array([250, 300, 450, 500], np.float32), "full_dense")
    assert calls == ["short"]
