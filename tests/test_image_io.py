"""Image reading/writing: every format case made from a real shared photo, plus the error cases."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import testdata_file as shared_file
from PIL import Image, ImageOps

from facepipe.errors import InputError
from facepipe.io.image import apply_exif_orientation, ensure_rgb_uint8, read_image, write_image

PHOTO = "faces/pyfeat_single_face.jpg"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The shared test photo as RGB, decoded by Pillow (an independent decoder)."""
    with Image.open(shared_file(PHOTO)) as im:
        return np.asarray(im.convert("RGB"))


def test_jpeg_matches_pillow(photo):
    img = read_image(shared_file(PHOTO))
    assert img.dtype == np.uint8 and img.shape == photo.shape and img.flags.c_contiguous
    # Same libjpeg-turbo family in both; allow one level for IDCT differences between builds.
    assert np.abs(img.astype(int) - photo).max() <= 1


def test_png_rgb_is_exact(photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), photo)


def test_16bit_png_is_scaled_with_rounding(photo, tmp_path):
    rng = np.random.default_rng(0)
    v16 = (
        (photo.astype(np.int32) * 257 + rng.integers(-128, 128, photo.shape)).clip(0, 65535).astype(np.uint16)
    )
    cv2.imwrite(str(tmp_path / "a16.png"), v16[:, :, ::-1])  # OpenCV writes BGR
    assert cv2.imread(str(tmp_path / "a16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    expected = np.round(v16 / 257.0).astype(np.uint8)  # v * 255 / 65535
    np.testing.assert_array_equal(read_image(tmp_path / "a16.png"), expected)
    gray16 = v16[:, :, 0]
    cv2.imwrite(str(tmp_path / "g16.png"), gray16)
    out = read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(out, np.repeat(np.round(gray16 / 257.0).astype(np.uint8)[:, :, None], 3, 2))


def test_rgba_png_drops_alpha(photo, tmp_path):
    alpha = np.random.default_rng(1).integers(0, 256, photo.shape[:2], dtype=np.uint8)
    Image.fromarray(np.dstack([photo, alpha]), "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), photo)


def test_shared_rgba_png_matches_pillow():
    path = shared_file("faces/mp_sergey.png")
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        ref = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(read_image(path), ref)


def test_grayscale_png_and_jpeg(photo, tmp_path):
    gray = np.asarray(Image.fromarray(photo).convert("L"))
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), np.repeat(gray[:, :, None], 3, 2))
    Image.fromarray(gray).save(tmp_path / "g.jpg", quality=95)
    out = read_image(tmp_path / "g.jpg")
    assert out.shape == (*gray.shape, 3)
    assert (out[:, :, 0] == out[:, :, 1]).all() and (out[:, :, 1] == out[:, :, 2]).all()
    assert np.abs(out[:, :, 0].astype(int) - gray).mean() < 2


def test_gif_named_png_reads_like_pillow():
    """The shared Yale images are GIFs with a .png name: content decides, not the extension."""
    path = shared_file("expressions/happy/yale_01_happy.png")
    with Image.open(path) as im:
        assert im.format == "GIF"
        ref = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(read_image(path), ref)


def test_webp_lossless_and_lossy(photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "a.webp", lossless=True)
    np.testing.assert_array_equal(read_image(tmp_path / "a.webp"), photo)
    Image.fromarray(photo).save(tmp_path / "b.webp", quality=90)
    out = read_image(tmp_path / "b.webp")
    assert out.shape == photo.shape and np.abs(out.astype(int) - photo).mean() < 4


def test_jpeg_exif_orientation_6_is_rotated_clockwise(photo, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(photo).save(tmp_path / "o6.jpg", quality=95, exif=exif.tobytes())
    out = read_image(tmp_path / "o6.jpg")
    h, w = photo.shape[:2]
    assert out.shape == (w, h, 3)
    upright = np.rot90(photo, k=-1)  # orientation 6: stored image must be turned 90 degrees clockwise
    assert np.abs(out.astype(int) - upright).mean() < 3
    assert np.abs(out.astype(int) - np.rot90(photo, k=1)).mean() > 20  # and not the other way


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow_exif_transpose(photo, tmp_path, orientation):
    small = np.ascontiguousarray(photo[:40, :64])
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(small).save(tmp_path / "o.png", exif=exif.tobytes())
    with Image.open(tmp_path / "o.png") as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    np.testing.assert_array_equal(read_image(tmp_path / "o.png"), ref)
    np.testing.assert_array_equal(apply_exif_orientation(small, orientation), ref)


# --------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        read_image(tmp_path / "nope.jpg")
    assert "nope.jpg" in str(err.value)


def test_directory(tmp_path):
    with pytest.raises(InputError, match="directory"):
        read_image(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jpg: empty file"):
        read_image(tmp_path / "empty.jpg")


def test_truncated_jpeg(tmp_path):
    data = shared_file(PHOTO).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 6 // 10])
    # Caught by the structure check (no EOI after the scan), whatever this OpenCV build would do with it.
    with pytest.raises(InputError, match=r"cut\.jpg: truncated"):
        read_image(tmp_path / "cut.jpg")


def test_jpeg_with_trailing_data_after_the_image_is_fine(photo, tmp_path):
    data = shared_file(PHOTO).read_bytes()
    (tmp_path / "trailer.jpg").write_bytes(data + b"\x00" * 100 + b"appended data")
    assert read_image(tmp_path / "trailer.jpg").shape == photo.shape


def test_truncated_png(photo, tmp_path):
    Image.fromarray(photo).save(tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.png"):
        read_image(tmp_path / "cut.png")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("this is not an image\n" * 20)
    with pytest.raises(InputError, match=r"notes\.jpg: not an image"):
        read_image(tmp_path / "notes.jpg")


# --------------------------------------------------------------------------- writing


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tiff", ".webp", ".jpg"])
def test_write_round_trip(photo, tmp_path, ext):
    out = write_image(tmp_path / f"out{ext}", photo)
    back = read_image(out)
    if ext in (".png", ".bmp", ".tiff"):
        np.testing.assert_array_equal(back, photo)
    else:
        assert back.shape == photo.shape and np.abs(back.astype(int) - photo).mean() < 4
    assert [p.name for p in tmp_path.iterdir()] == [f"out{ext}"]  # no temporary file left


def test_write_is_atomic_and_leaves_the_old_file_on_failure(photo, tmp_path):
    dest = tmp_path / "keep.png"
    write_image(dest, photo)
    before = dest.read_bytes()
    with pytest.raises(ValueError):
        write_image(dest, np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError, match="cannot write images of type"):
        write_image(tmp_path / "x.gifx", photo)
    assert dest.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_write_drops_metadata_unless_asked(photo, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "TestCam"  # Make
    src = tmp_path / "src.jpg"
    Image.fromarray(photo).save(src, quality=95, exif=exif.tobytes())
    upright = read_image(src)
    plain = write_image(tmp_path / "plain.jpg", upright)
    with Image.open(plain) as im:
        assert 0x010F not in im.getexif()
    kept = write_image(tmp_path / "kept.jpg", upright, keep_metadata=True, metadata_from=src)
    with Image.open(kept) as im:
        assert im.getexif()[0x010F] == "TestCam" and im.getexif()[0x0112] == 1
    assert read_image(kept).shape == upright.shape  # not rotated a second time


# --------------------------------------------------------------------------- arrays


def test_ensure_rgb_uint8_conversions():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = np.repeat(gray[:, :, None], 3, 2)
    np.testing.assert_array_equal(ensure_rgb_uint8(gray), rgb)
    np.testing.assert_array_equal(ensure_rgb_uint8(gray[:, :, None]), rgb)
    np.testing.assert_array_equal(ensure_rgb_uint8(np.dstack([rgb, np.zeros_like(gray)])), rgb)
    np.testing.assert_array_equal(ensure_rgb_uint8(rgb.astype(np.uint16) * 257), rgb)
    np.testing.assert_array_equal(
        ensure_rgb_uint8(np.array([[[0, 32767, 65535]]], np.uint16)), [[[0, 127, 255]]]
    )
    np.testing.assert_array_equal(ensure_rgb_uint8(rgb / 255.0), rgb)
    np.testing.assert_array_equal(ensure_rgb_uint8(np.float32([[[0.0, 0.5, 1.0]]])), [[[0, 128, 255]]])
    same = np.zeros((2, 2, 3), np.uint8)
    assert ensure_rgb_uint8(same) is same  # already right: no copy
    assert ensure_rgb_uint8(rgb[:, ::-1]).flags.c_contiguous


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 2, 3), np.float32) + 1.5, r"\[0, 1\]"),
        (np.full((2, 2), np.nan, np.float32), "NaN"),
        (np.zeros((2, 2, 3), np.int32), "dtype int32"),
        (np.zeros((2, 2, 2), np.uint8), "1, 3 or 4 channels"),
        (np.zeros((1, 2, 2, 3), np.uint8), "HxW"),
        (np.zeros((0, 5, 3), np.uint8), "empty"),
    ],
)
def test_ensure_rgb_uint8_rejects(array, message):
    with pytest.raises(ValueError, match=message):
        ensure_rgb_uint8(array)


def test_read_image_accepts_str_and_path():
    p = shared_file(PHOTO)
    np.testing.assert_array_equal(read_image(str(p)), read_image(Path(p)))
