"""FrameSeeker: frame N by number equals the N-th frame VideoReader yields, in any order of access."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import testdata_file as shared_file
from mediafiles import make_clip

from facepipe.errors import InputError
from facepipe.io.video import VideoReader
from facepipe.io.video_seek import FrameSeeker


@pytest.mark.parametrize("keep", [0, 8])
@pytest.mark.parametrize("rel", ["videos/fr_short_hamilton_clip.mp4", "videos/pyfeat_face_noface.mov"])
def test_random_access_equals_sequential_decoding(rel, keep):
    path = shared_file(rel)
    with VideoReader(path) as reader:
        frames = [f.image for f in reader]
    rng = np.random.default_rng(0)
    order = [0, 1, 2, len(frames) - 1, *rng.integers(0, len(frames), 12).tolist(), 40, 41, 42, 5, 44, 41, 39, 50]
    with FrameSeeker(path, keep=keep) as seeker:
        assert len(seeker) == len(frames)
        for i in order:
            assert np.array_equal(seeker.frame(i), frames[i]), f"frame {i}"
        with pytest.raises(IndexError):
            seeker.frame(len(frames))


def test_forward_reads_decode_on_and_kept_frames_need_no_decoding():
    """Ahead of the last frame read with no key frame in between: no seek (the decoder goes on);
    back to a frame passed on the way: taken from the kept frames, no decoding at all."""
    import av

    path = shared_file("videos/fr_short_hamilton_clip.mp4")
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        keys = sorted(p.pts for p in c.demux(s) if p.size and p.is_keyframe)
    with VideoReader(path) as reader:
        frames = [f.image for f in reader]
    with FrameSeeker(path, keep=16) as seeker:
        pts = seeker._pts
        key_index = [int(np.searchsorted(pts, k)) for k in keys]
        forward = [3, 4, 9, 20, 21, 60, 61, 90]
        for i in forward:
            assert np.array_equal(seeker.frame(i), frames[i]), i
        crossed = sum(1 for k in key_index if 0 < k <= forward[-1])
        assert seeker.seeks <= 1 + crossed
        seeks = seeker.seeks
        decoded_next = seeker._next
        for i in (89, 85, 80):  # passed on the way to 90, within the last 16
            assert np.array_equal(seeker.frame(i), frames[i]), i
        assert seeker.seeks == seeks and seeker._next == decoded_next


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
