"""FrameSeeker: frame N by number equals the N-th frame VideoReader yields, in any order of access."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import testdata_file as shared_file
from mediafiles import make_clip

from facepipe.errors import InputError
from facepipe.io.video import VideoReader
from facepipe.io.video_seek import FrameSeeker


@pytest.mark.parametrize("rel", ["videos/fr_short_hamilton_clip.mp4", "videos/pyfeat_face_noface.mov"])
def test_random_access_equals_sequential_decoding(rel):
    path = shared_file(rel)
    with VideoReader(path) as reader:
        frames = [f.image for f in reader]
    rng = np.random.default_rng(0)
    order = [0, 1, 2, len(frames) - 1, *rng.integers(0, len(frames), 12).tolist(), 40, 41, 42, 5]
    with FrameSeeker(path) as seeker:
        assert len(seeker) == len(frames)
        for i in order:
            assert np.array_equal(seeker.frame(i), frames[i]), f"frame {i}"
        with pytest.raises(IndexError):
            seeker.frame(len(frames))


def test_rotated_clip_comes_upright(tmp_path):
    path = tmp_path / "rotated.mp4"
    make_clip(path, n=5, size=(64, 32), rotation=90)
    with VideoReader(path) as reader:
        frames = [f.image for f in reader]
    with FrameSeeker(path) as seeker:
        assert seeker.frame(3).shape == frames[3].shape == (64, 32, 3)
        assert np.array_equal(seeker.frame(3), frames[3])
        assert seeker.time_ms(0) == 0.0 and seeker.time_ms(1) == pytest.approx(100.0)


def test_not_a_video(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_text("no video here")
    with pytest.raises(InputError, match="x.mp4"):
        FrameSeeker(bad)
