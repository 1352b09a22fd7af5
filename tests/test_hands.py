"""Hands: parity with mediapipe 0.10.21 goldens, tracking, mirror/border/crossing behaviour."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import model_path, runtime_with
from conftest import testdata_file as data_file
from goldens_util import golden_inputs, load_golden, set_info

from facepipe.io.image import read_image
from facepipe.solutions.hands import HANDEDNESS_LABELS, Hands, HandsOptions, HandsResult


def _hands(**kw) -> Hands:
    complexity = kw.get("model_complexity", 1)
    suffix = "full" if complexity == 1 else "lite"
    return Hands(HandsOptions(**kw, runtime=runtime_with(f"palm_detection_{suffix}", f"hand_landmark_{suffix}")))


def _hand_size(px: np.ndarray) -> float:
    """Diagonal of the landmarks' bounding box, in pixels."""
    return float(np.linalg.norm(px[:, :2].max(0) - px[:, :2].min(0)))


def _mean_err_frac(ref_norm: np.ndarray, got_norm: np.ndarray, size: tuple[int, int]) -> float:
    scale = np.array(size, np.float32)
    ref, got = ref_norm[:, :2] * scale, got_norm[:, :2] * scale
    return float(np.linalg.norm(ref - got, axis=1).mean()) / _hand_size(ref)


@pytest.fixture(scope="module")
def static_hands() -> dict[int, Hands]:
    return {c: _hands(static_image_mode=True, model_complexity=c) for c in (0, 1)}


@pytest.mark.parametrize("set_name", ["hands_full", "hands_lite"])
def test_image_parity_with_mediapipe(set_name: str, static_hands) -> None:
    opts = set_info(set_name)["options"]
    hands = static_hands[opts["model_complexity"]]
    for rel in golden_inputs(set_name):
        g = load_golden(set_name, rel)
        image = read_image(data_file(rel))
        res = hands.process(image)
        size = (image.shape[1], image.shape[0])
        assert len(res) == len(g["landmarks"]), rel
        assert res.handedness_labels == tuple(str(s) for s in g["handedness_label"]), rel
        np.testing.assert_allclose(res.handedness_score, g["handedness_score"], atol=0.02, err_msg=rel)
        for k in range(len(res)):
            assert _mean_err_frac(g["landmarks"][k], res.landmarks[k], size) <= 0.01, (rel, k)
            world_err = np.linalg.norm(g["world_landmarks"][k] - res.world_landmarks[k], axis=1).mean()
            assert world_err <= 0.01, (rel, k, world_err)  # metres


def test_video_tracking_parity_with_mediapipe() -> None:
    from facepipe.io.video import VideoReader

    rel = "videos/tfjs_asl_hand.mp4"
    g = load_golden("hands_video", rel)
    hands = _hands(static_image_mode=False, max_num_hands=2, model_complexity=1)
    errs = []
    with VideoReader(data_file(rel), rotate=False) as reader:
        for i, frame in enumerate(reader):
            if i >= len(g["num_hands"]):
                break
            res = hands.process(frame.image)
            n = int(g["num_hands"][i])
            assert len(res) == n, i
            assert res.handedness_labels == tuple(str(s) for s in g["handedness_label"][i][:n]), i
            size = (frame.image.shape[1], frame.image.shape[0])
            errs += [_mean_err_frac(g["landmarks"][i, k], res.landmarks[k], size) for k in range(n)]
    assert len(errs) >= 50
    # Tracking feeds each frame's landmarks into the next ROI, so float-level differences would
    # grow over time (0.23 % of the hand before the ROI maths followed MediaPipe's float32 order);
    # now the ROIs are MediaPipe's bit for bit (measured: 0 error on all 60 frames).
    assert max(errs) <= 5e-4


def test_no_hands_gives_empty_well_shaped_result(static_hands) -> None:
    gray = np.full((240, 320, 3), 128, np.uint8)
    res = static_hands[1].process(gray)
    assert isinstance(res, HandsResult) and len(res) == 0
    assert res.landmarks.shape == (0, 21, 3) and res.world_landmarks.shape == (0, 21, 3)
    assert res.handedness.shape == (0,) and res.rois.shape == (0, 5)
    assert res.image_size == (320, 240)
    assert res.to_dict()["hands"] == []


def test_mirrored_image_flips_handedness(static_hands) -> None:
    hands = static_hands[1]
    checked = 0
    for rel in golden_inputs("hands_full"):
        image = read_image(data_file(rel))
        res = hands.process(image)
        mir = hands.process(np.ascontiguousarray(image[:, ::-1]))
        assert len(mir) == len(res), rel
        size = (image.shape[1], image.shape[0])
        for k in range(len(res)):
            # Pair hands by position: the mirror of hand k's wrist.
            mirrored = res.landmarks[k].copy()
            mirrored[:, 0] = 1.0 - mirrored[:, 0]
            j = int(np.argmin(np.abs(mir.landmarks[:, 0, :2] - mirrored[0, :2]).sum(1)))
            # The model is not exactly mirror-symmetric: same hand, a few % apart.
            assert _mean_err_frac(mirrored, mir.landmarks[j], size) < 0.08, rel
            assert mir.handedness[j] == 1 - res.handedness[k], rel
            checked += 1
    assert checked >= 8


def test_flip_handedness_option_swaps_labels() -> None:
    image = read_image(data_file("hands/gesture_call/mp_17d804b5.jpg"))
    plain = _hands(static_image_mode=True).process(image)
    flipped = _hands(static_image_mode=True, flip_handedness=True).process(image)
    assert len(plain) == 2
    np.testing.assert_array_equal(flipped.handedness, 1 - plain.handedness)
    np.testing.assert_array_equal(flipped.landmarks, plain.landmarks)
    assert set(flipped.handedness_labels) == set(HANDEDNESS_LABELS)


def test_hand_cut_by_the_image_border(static_hands) -> None:
    image = read_image(data_file("hands/tfjs_hands.jpg"))[:, :360]  # the left hand only
    hands = static_hands[1]
    whole = hands.process(np.ascontiguousarray(image))
    assert len(whole) == 1
    ref = whole.landmarks[0] * [360, image.shape[0], 360]
    x0 = 140  # cuts off the wrist and the pinky side
    cut = np.ascontiguousarray(image[:, x0:])
    res = hands.process(cut)
    assert len(res) == 1
    got = res.landmarks[0] * [cut.shape[1], cut.shape[0], cut.shape[1]]
    assert (got[:, 0] < 0).any(), "landmarks outside the image are returned, not clipped"
    err = np.linalg.norm(got[:, :2] + [x0, 0] - ref[:, :2], axis=1).mean()
    assert err < 0.05 * _hand_size(ref)


def _crossing_frames(n: int = 12, max_shift: int = 300) -> tuple[list[np.ndarray], list[int]]:
    """The right hand of tfjs_hands.jpg (white background) slid left across the left hand."""
    image = read_image(data_file("hands/tfjs_hands.jpg"))
    half = image.shape[1] // 2
    left, right = image.copy(), image.copy()
    left[:, half:] = 255
    right[:, :half] = 255
    frames, shifts = [], []
    for k in range(n):
        dx = int(round(max_shift * k / (n - 1)))
        moved = np.full_like(right, 255)
        moved[:, : image.shape[1] - dx] = right[:, dx:]
        frames.append(np.minimum(left, moved))  # darker wins: both hands stay visible
        shifts.append(dx)
    return frames, shifts


def test_two_hands_crossing_keep_their_tracks() -> None:
    frames, shifts = _crossing_frames()
    hands = _hands(static_image_mode=False, max_num_hands=2)
    first = hands.process(frames[0])
    assert len(first) == 2
    size = (frames[0].shape[1], frames[0].shape[0])
    moving_id = int(first.track_ids[np.argmax(first.landmarks[:, 0, 0])])  # the right-hand one
    start = {int(t): lm for t, lm in zip(first.track_ids, first.landmarks, strict=True)}
    both_seen = 0
    for frame, dx in zip(frames[1:], shifts[1:], strict=True):
        res = hands.process(frame)
        assert 1 <= len(res) <= 2
        both_seen += len(res) == 2
        for tid, lm in zip(res.track_ids.tolist(), res.landmarks, strict=True):
            # A track id never jumps to the other hand: each follows its own hand's motion.
            expected = start[tid].copy()
            if tid == moving_id:
                expected[:, 0] -= dx / size[0]
            assert _mean_err_frac(expected, lm, size) < 0.05, (dx, tid)
    # Tracking holds both hands through most of the overlap (MediaPipe: 9 of 11 frames).
    assert both_seen >= 8


def test_static_mode_detects_every_frame_and_tracking_mode_does_not() -> None:
    frames, _ = _crossing_frames(n=3, max_shift=20)

    def palm_calls(static: bool) -> tuple[int, list[list[int]]]:
        hands = _hands(static_image_mode=static)
        calls = []
        detect = hands.palm_detector.detect_normalized
        hands.palm_detector.detect_normalized = lambda im: calls.append(1) or detect(im)  # type: ignore[method-assign]
        ids = [hands.process(f).track_ids.tolist() for f in frames]
        return len(calls), ids

    assert palm_calls(True)[0] == 3
    n, ids = palm_calls(False)
    assert n == 1  # two hands tracked: the palm detector is skipped
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 2


def test_smoothing_damps_jitter_and_keeps_position() -> None:
    image = read_image(data_file("hands/gesture_four/mp_105f8f8e.jpg"))
    rng = np.random.default_rng(0)
    raw_h = _hands(static_image_mode=False)
    smooth_h = _hands(static_image_mode=False, smooth_landmarks=True)
    raw, smooth = [], []
    for _ in range(8):
        noisy = np.clip(image.astype(np.int16) + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)
        raw.append(raw_h.process(noisy).landmarks[0])
        smooth.append(smooth_h.process(noisy).landmarks[0])
    raw_jitter = np.abs(np.diff(np.stack(raw), axis=0)).mean()
    smooth_jitter = np.abs(np.diff(np.stack(smooth), axis=0)).mean()
    assert smooth_jitter < 0.7 * raw_jitter
    assert np.abs(np.stack(smooth) - np.stack(raw)).max() < 0.02


def test_bad_input_and_options() -> None:
    with pytest.raises(ValueError, match="max_num_hands"):
        HandsOptions(max_num_hands=0)
    with pytest.raises(ValueError, match="model_complexity"):
        HandsOptions(model_complexity=2)
    hands = _hands(static_image_mode=True)
    with pytest.raises(ValueError, match="RGB uint8"):
        hands.process(np.zeros((10, 10), np.uint8))
    tracking = _hands(static_image_mode=False)
    tracking.process(np.zeros((32, 32, 3), np.uint8), timestamp_ms=100)
    with pytest.raises(ValueError, match="increase"):
        tracking.process(np.zeros((32, 32, 3), np.uint8), timestamp_ms=50)


def test_result_indexing_keeps_fields_aligned(static_hands) -> None:
    res = static_hands[1].process(read_image(data_file("hands/gesture_call/mp_17d804b5.jpg")))
    second = res[1]
    assert isinstance(second, HandsResult) and len(second) == 1
    np.testing.assert_array_equal(second.world_landmarks[0], res.world_landmarks[1])
    assert second.handedness_labels == res.handedness_labels[1:]
    d = res.to_dict()
    assert len(d["hands"]) == 2 and len(d["hands"][0]["landmarks"]) == 21


def test_cli_hands_json_and_drawing(tmp_path, capsys) -> None:
    import json

    from facepipe.cli.main import main

    model_path("palm_detection_full")
    src = data_file("hands/tfjs_hands.jpg")
    drawn = tmp_path / "drawn.png"
    assert main(["hands", str(src), "--draw", str(drawn), "--flip-handedness"]) == 0
    doc = json.loads(capsys.readouterr().out)
    hands = doc["frames"][0]["hands"]
    assert doc["image_size"] == [720, 382] and len(hands) == 2
    assert {h["handedness"] for h in hands} == {"Left"}  # MediaPipe says Right, Right; flipped
    image = read_image(src)
    assert np.abs(read_image(drawn).astype(int) - image).max() > 100  # something was drawn
    assert main(["hands", str(src), "-f", "npz"]) == 2  # npz needs an output file: a usage error
