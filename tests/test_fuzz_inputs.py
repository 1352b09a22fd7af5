"""Fuzzing the readers with random bytes and mutated real files: every outcome is a decoded image
or video, or an InputError naming the file; never another exception, never a crash. Bounded
(max_examples, no shrinking past the first failure) to a few seconds in CI."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from mediafiles import make_clip  # noqa: E402

from facepipe.errors import InputError  # noqa: E402
from facepipe.io.image import read_image_file  # noqa: E402

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _seed_files() -> dict[str, bytes]:
    """Small valid files of each format to mutate (a gradient with texture: real entropy coding)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:48, 0:64]
    small = Image.fromarray(np.dstack([x * 4, y * 5, (x * y) % 256]).astype(np.uint8), "RGB")
    seeds = {}
    for ext, fmt in ((".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"), (".gif", "GIF"), (".bmp", "BMP")):
        buf = io.BytesIO()
        small.save(buf, format=fmt)
        seeds[ext] = buf.getvalue()
    return seeds


SEEDS = _seed_files()


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "zero"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[pos: pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        elif data:
            data[pos: pos + 16] = bytes(min(16, len(data) - pos))
    return bytes(data)


def _read_image(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        image = read_image_file(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3 and image.rgb.dtype.name == "uint8"


@FUZZ
@given(data=st.binary(max_size=2048), ext=st.sampled_from(sorted(SEEDS)))
def test_random_bytes_as_images(tmp_path, data, ext):
    _read_image(tmp_path / f"random{ext}", data)


@FUZZ
@given(st.data())
def test_mutated_images(tmp_path, data):
    ext = data.draw(st.sampled_from(sorted(SEEDS)))
    _read_image(tmp_path / f"mutated{ext}", data.draw(mutated(SEEDS[ext])))


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    pytest.importorskip("av")
    path = tmp_path_factory.mktemp("clip") / "seed.mp4"
    make_clip(path, n=4, audio=True)
    return path.read_bytes()


@settings(FUZZ, max_examples=40)
@given(st.data())
def test_mutated_videos(tmp_path, clip_bytes, data):
    from facepipe.io.video import VideoReader

    path = tmp_path / "mutated.mp4"
    path.write_bytes(data.draw(mutated(clip_bytes)))
    try:
        with VideoReader(path) as reader:
            for frame in reader:
                assert frame.image.ndim == 3
    except InputError as exc:
        assert str(path) in str(exc)
