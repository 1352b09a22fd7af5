"""Scene-cut detection on real frames: the hamilton clip's hard cuts are found; flashes, fades,
lighting changes, pans and a hand-held zoom made from (or found in) real frames are not cuts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import testdata_file as shared_file

from facepipe.io.video import VideoReader
from facepipe.stages.scene_cuts import SceneCutDetector, SceneCutOptions

HAMILTON_CUTS = [20, 82, 211]  # mean gray frame difference > 25; checked by eye (stage <-> close-up <-> audience)


def _frames(name: str, start: int = 0, stop: int = 10**9) -> list[np.ndarray]:
    with VideoReader(shared_file(f"videos/{name}")) as reader:
        return [f.image.copy() for f in reader if start <= f.index < stop]


def _cuts(frames: list[np.ndarray], options: SceneCutOptions | None = None) -> list[int]:
    det = SceneCutDetector(options)
    decided = [d for rgb in frames for d in det.push(rgb)] + det.flush()
    assert [d.index for d in decided] == list(range(len(frames)))  # every frame once, in order
    return [d.index for d in decided if d.cut]


@pytest.fixture(scope="module")
def hamilton() -> list[np.ndarray]:
    return _frames("fr_short_hamilton_clip.mp4")


@pytest.fixture(scope="module")
def stage(hamilton) -> list[np.ndarray]:
    """40 frames of one shot: the singer on the stage (frames 120-159)."""
    return hamilton[120:160]


def test_finds_the_hamilton_cuts_and_nothing_else(hamilton):
    # Between the cuts: a hand-held zoom (frames 116-118) and a singer moving in the light.
    assert _cuts(hamilton) == HAMILTON_CUTS


def test_decisions_come_confirm_frames_late(hamilton):
    det = SceneCutDetector(SceneCutOptions(confirm=2))
    got = {}
    for i, rgb in enumerate(hamilton[:30]):
        for d in det.push(rgb):
            got[d.index] = (i, d.cut)
    assert got[20] == (22, True) and all(got[j][0] == j + 2 for j in range(28))


def test_frame_by_frame_cuts_for_live_callers(hamilton, stage):
    """Recognition and the selective survey decide each frame as it comes (confirm 0): the same hamilton
    cuts at once, and a flash cuts twice (into it and out of it), the price of no look-ahead."""
    live = SceneCutDetector(SceneCutOptions(confirm=0))
    assert [i for i, rgb in enumerate(hamilton) if live.starts_shot(rgb)] == HAMILTON_CUTS
    flashed = [*stage[:5], _flash(stage[5], 4.0, 200.0, True), *stage[6:10]]
    live = SceneCutDetector(SceneCutOptions(confirm=0))
    assert [i for i, rgb in enumerate(flashed) if live.starts_shot(rgb)] == [5, 6]
    assert _cuts(flashed) == []  # with the default look-ahead: no cut
    with pytest.raises(ValueError, match="confirm must be 0"):
        SceneCutDetector().starts_shot(stage[0])
    from facepipe.apps.recognition.video import TrackVoteOptions
    from facepipe.apps.selective.options import TrackSampling

    for owner in (TrackVoteOptions, TrackSampling):
        assert owner().cuts == SceneCutOptions(confirm=0) and owner(cuts=None).cuts is None
        with pytest.raises(ValueError, match="confirm must be 0"):
            owner(cuts=SceneCutOptions())


@pytest.mark.parametrize("name", ["lp_d12_talking.mp4", "lp_s13_dance_fullbody.mp4", "facenet_pedestrians.mp4"])
def test_no_cut_in_one_shot_clips(name):
    # lp_d12 has a dropped-frame jump of the head (frame 164), lp_s13 a dancer filling the frame,
    # facenet a 1080p crowd walking at the camera.
    assert _cuts(_frames(name)) == []


def _flash(rgb: np.ndarray, gain: float, lift: float, centre_only: bool = False) -> np.ndarray:
    f = rgb.astype(np.float32) * gain + lift
    if centre_only:  # a flash lights what is near: the middle of the frame, not the background
        h, w = rgb.shape[:2]
        yy, xx = np.mgrid[:h, :w]
        near = np.exp(-(((xx - w / 2) / (w / 4)) ** 2 + ((yy - h / 2) / (h / 3)) ** 2))[..., None]
        f = rgb * (1 - near) + f * near
    return np.clip(f, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("frames_lit", [1, 2])
@pytest.mark.parametrize("flash", [(1.8, 90, False), (2.5, 120, True), (4.0, 200, True)],
                         ids=["even", "near", "burnt-out"])
def test_a_flash_is_not_a_cut(stage, frames_lit, flash):
    clip = [f.copy() for f in stage]
    for k in range(20, 20 + frames_lit):
        clip[k] = _flash(clip[k], *flash)
    assert _cuts(clip) == []
    if flash[0] == 4.0:
        # A flash that burns out the foreground changes structure and tones: without the look-ahead
        # it would be taken for a cut (so the test can fail). Milder ones keep their structure.
        assert _cuts(clip, SceneCutOptions(confirm=0))[:1] == [20]


def test_lighting_changes_and_fades_are_not_cuts(stage):
    dimmed = stage[:20] + [_flash(f, 0.45, 0) for f in stage[20:]]  # the lights go down at once
    assert _cuts(dimmed) == []
    ramp = np.r_[np.linspace(1, 0, 10), np.zeros(4), np.linspace(0, 1, 10)]  # a dip to black and back
    dip = stage[:10] + [_flash(f, g, 0) for f, g in zip(stage[10:34], ramp)] + stage[34:]
    assert _cuts(dip) == []


def _pan(image: np.ndarray, step: float, n: int, width: int) -> list[np.ndarray]:
    """n frames of a camera panning over `image` by `step` of the frame width per frame (0.2: a whip pan,
    the whole frame in 5 frames; without the tone test it would be a cut)."""
    h = image.shape[0]
    xs = (np.arange(n) * step * width).astype(int)
    assert xs[-1] + width <= image.shape[1]
    return [np.ascontiguousarray(image[: h, x: x + width]) for x in xs]


@pytest.mark.parametrize("step", [0.03, 0.08, 0.2])
def test_pans_are_not_cuts(step):
    crowd = _frames("facenet_pedestrians.mp4", 50, 51)[0]  # 1920x1080
    wide = np.concatenate([crowd, crowd[:, ::-1]], axis=1)  # 3840 px to pan over
    assert _cuts(_pan(wide, step, 10, 1280)) == []


def test_options_are_checked():
    with pytest.raises(ValueError, match="confirm"):
        SceneCutOptions(confirm=-1)
    with pytest.raises(ValueError, match="max_shift"):
        SceneCutOptions(max_shift=8)
