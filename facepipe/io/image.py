"""Image files in and out, always as RGB uint8 HxWx3 arrays (what MediaPipe's Python API takes).

Decoding uses OpenCV (fast, full bit depth via IMREAD_UNCHANGED) with Pillow
as the fallback for what OpenCV cannot read. EXIF orientation is read from
the header with Pillow and applied to the pixels exactly as
`PIL.ImageOps.exif_transpose` would. `read_image` drops alpha (not composited), as
MediaPipe does when it converts RGBA input to RGB, and scales 16-bit samples to 8
bits with rounding (v * 255 / 65535); `read_image_file` also returns the alpha
channel and the file's bit depth, so an app can keep transparency (`write_image(...,
alpha=)`) and say when bit depth is lost.

Images larger than MAX_IMAGE_PIXELS are refused from their header, before any
pixel is decoded (a small file can claim a huge size: a decompression bomb).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facepipe._fsutil import atomic_write_bytes
from facepipe.errors import InputError, ProcessingError

log = logging.getLogger(__name__)

__all__ = [
    "ImageFile", "MAX_IMAGE_PIXELS", "read_image", "read_image_file", "write_image", "ensure_rgb_uint8",
    "check_rgb_image", "apply_exif_orientation",
    "WRITABLE_EXTENSIONS", "READABLE_EXTENSIONS",
]

_EXIF_ORIENTATION = 0x0112
# Pillow's own refusal limit (twice the size it warns about): 179 megapixels, 0.5 GB as RGB.
MAX_IMAGE_PIXELS = 178_956_970
ALPHA_EXTENSIONS = (".png", ".webp", ".tif", ".tiff")
WRITABLE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
# What folder scans treat as images (read_image reads these through OpenCV or Pillow).
READABLE_EXTENSIONS = frozenset(
    {*WRITABLE_EXTENSIONS, ".jp2", ".pgm", ".ppm", ".pbm", ".gif"}
)


# --------------------------------------------------------------------------- arrays


def check_rgb_image(image: np.ndarray) -> np.ndarray:
    """`image` if it is an RGB uint8 (H, W, 3) array with a non-zero size, else ValueError.

    The solutions take exactly this (no silent conversion on the hot path); use
    `ensure_rgb_uint8` to convert other arrays first.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            "expected an RGB uint8 image of shape (H, W, 3), got "
            f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image has zero size: {image.shape}")
    return image


def ensure_rgb_uint8(array: np.ndarray) -> np.ndarray:
    """`array` as a C-contiguous RGB uint8 HxWx3 array.

    Accepts HxW or HxWx1 grayscale, HxWx3 RGB, HxWx4 RGBA (alpha dropped), as
    uint8, uint16 (scaled by 255/65535, rounded) or float in [0, 1]. Channel
    order is taken as given (RGB); an RGB uint8 contiguous input is returned
    as is, without a copy.
    """
    a = np.asarray(array)
    if a.ndim not in (2, 3):
        raise ValueError(f"image array must be HxW or HxWxC, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"image array is empty (shape {a.shape})")
    if a.ndim == 3 and a.shape[2] not in (1, 3, 4):
        raise ValueError(f"image array must have 1, 3 or 4 channels, got {a.shape[2]} (shape {a.shape})")
    a = _to_uint8(a)
    if a.ndim == 2 or a.shape[2] == 1:
        a = np.repeat(a.reshape(a.shape[0], a.shape[1], 1), 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    return np.ascontiguousarray(a)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        # Exact rounding of v*255/65535 in integer arithmetic (max 65535*255 fits in uint32).
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ValueError("float image array contains NaN or infinity")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"float image array must be in [0, 1], got values in [{lo:g}, {hi:g}]")
        return np.rint(a * 255.0).astype(np.uint8)
    raise ValueError(f"unsupported image dtype {a.dtype} (expected uint8, uint16 or float in [0, 1])")


def apply_exif_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Pixels turned upright for EXIF orientation 1-8 (same result as PIL.ImageOps.exif_transpose)."""
    if orientation == 2:
        return rgb[:, ::-1]
    if orientation == 3:
        return rgb[::-1, ::-1]
    if orientation == 4:
        return rgb[::-1]
    if orientation == 5:
        return rgb.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(rgb, k=-1)
    if orientation == 7:
        return rgb[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(rgb, k=1)
    return rgb


# --------------------------------------------------------------------------- reading


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not data:
        raise InputError(f"{path}: empty file (0 bytes), not an image")
    return data


def _jpeg_is_truncated(data: bytes) -> bool:
    """True if a JPEG stream ends before its end-of-image marker.

    Depending on the version, OpenCV decodes a truncated JPEG with a grey
    bottom and only a warning (4.x) or refuses it, so we check the structure:
    walk the marker segments to the first start-of-scan, then an EOI marker
    must follow. (Embedded EXIF thumbnails sit before the scan, so their EOI
    cannot fool this.)
    """
    pos, n = 2, len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            # Extraneous bytes between segments: libjpeg skips them with a warning, so do we.
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return True
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD8 or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        if marker == 0xDA:
            # rfind: the EOI is normally at the very end, so this reads a few bytes, not the whole scan.
            return data.rfind(b"\xff\xd9", pos + 2 + length) < 0
        pos += 2 + length
    return True


def _header(path: Path, data: bytes) -> tuple[int, int, int] | None:
    """(EXIF orientation, width, height) from the header alone; None if Pillow cannot parse it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # The size is checked against MAX_IMAGE_PIXELS by the caller; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:  # lazy: reads the header only
                value = im.getexif().get(_EXIF_ORIENTATION, 1)
                w, h = im.size
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image too large (over {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, the most"
                         " facepipe reads)") from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    return (int(value) if isinstance(value, int) and 1 <= value <= 8 else 1), int(w), int(h)


def _decode_opencv(data: bytes) -> np.ndarray | None:
    """RGB or RGBA (alpha kept), 8 or 16 bit, as stored (EXIF orientation not applied)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_UNCHANGED keeps 16-bit depth and alpha, and ignores EXIF (applied separately).
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        return None
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return img


def _decode_pillow(path: Path, data: bytes) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im = ImageOps.exif_transpose(im)  # also loads the pixels
                if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                    return np.asarray(im).astype(np.uint16)
                if im.mode == "I":
                    return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
                has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
                return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    except UnidentifiedImageError as exc:
        raise InputError(f"{path}: not an image, or a format neither OpenCV nor Pillow can read") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: corrupt or truncated image ({exc})") from exc


@dataclass(frozen=True, eq=False)
class ImageFile:
    """An image file's pixels. rgb: (H, W, 3) uint8, upright. alpha: (H, W) uint8 if the file has an
    alpha channel, else None. bit_depth: bits per sample in the file (8 or 16)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int


def read_image_file(path: str | os.PathLike[str]) -> ImageFile:
    """Read an image file upright per its EXIF orientation, with its alpha channel and bit depth.

    Raises InputError naming the file when it is missing, empty, not an image, truncated,
    corrupt or larger than MAX_IMAGE_PIXELS.
    """
    path = Path(path)
    data = _read_bytes(path)
    if data[:2] == b"\xff\xd8" and _jpeg_is_truncated(data):
        raise InputError(f"{path}: truncated or corrupt JPEG (no end-of-image marker after the image data)")
    header = _header(path, data)
    if header is not None and header[1] * header[2] > MAX_IMAGE_PIXELS:
        raise InputError(f"{path}: image too large ({header[1]}x{header[2]} = {header[1] * header[2] / 1e6:.0f}"
                         f" megapixels; facepipe reads up to {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels)")
    img = _decode_opencv(data)
    # The Pillow fallback applies the EXIF orientation itself.
    img = _decode_pillow(path, data) if img is None else apply_exif_orientation(img, header[0] if header else 1)
    alpha = None
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = np.ascontiguousarray(_to_uint8(img[:, :, 3]))
    try:
        return ImageFile(ensure_rgb_uint8(img), alpha, 16 if img.dtype == np.uint16 else 8)
    except ValueError as exc:
        raise InputError(f"{path}: unsupported image content ({exc})") from exc


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as RGB uint8 HxWx3, upright per its EXIF orientation (alpha dropped).

    Raises InputError naming the file when it is missing, empty, not an image,
    truncated, corrupt or larger than MAX_IMAGE_PIXELS.
    """
    return read_image_file(path).rgb


# --------------------------------------------------------------------------- writing


def _exif_without_orientation(source: Path) -> tuple[bytes | None, bytes | None]:
    """EXIF (orientation reset to 1, since our pixels are already upright) and ICC profile of `source`."""
    from PIL import Image

    try:
        with Image.open(source) as im:
            exif = im.getexif()
            icc = im.info.get("icc_profile")
            if _EXIF_ORIENTATION in exif:
                exif[_EXIF_ORIENTATION] = 1
            return (exif.tobytes() if len(exif) else None), icc
    except OSError as exc:
        raise InputError(f"{source}: cannot read its metadata ({exc})") from exc


def write_image(
    path: str | os.PathLike[str],
    rgb: np.ndarray,
    *,
    keep_metadata: bool = False,
    metadata_from: str | os.PathLike[str] | None = None,
    quality: int | None = None,
    alpha: np.ndarray | None = None,
) -> Path:
    """Write an RGB image atomically (temp file + rename in the same directory).

    alpha: (H, W) uint8 transparency, written where the format has an alpha channel
    (.png, .webp, .tif); other formats drop it with a warning.

    The format follows the extension (.jpg/.jpeg/.png/.webp/.bmp/.tif/.tiff).
    By default no metadata is written: outputs of e.g. the anonymizer must not
    carry the source's GPS position or camera serial. With keep_metadata=True
    the EXIF and ICC profile of `metadata_from` are copied (EXIF orientation set
    to 1, as the pixels are upright already). `quality` (1-100) applies to JPEG and WebP.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in WRITABLE_EXTENSIONS:
        raise InputError(
            f"{path}: cannot write images of type {ext or '(no extension)'!r};"
            f" use one of {', '.join(WRITABLE_EXTENSIONS)}"
        )
    if keep_metadata and metadata_from is None:
        raise ValueError("keep_metadata=True needs metadata_from (the file to take the metadata from)")
    if quality is not None and not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    rgb = ensure_rgb_uint8(rgb)
    if alpha is not None:
        if ext not in ALPHA_EXTENSIONS:
            log.warning("%s: %s has no alpha channel; the image's transparency is dropped", path, ext)
        elif alpha.shape != rgb.shape[:2]:
            raise ValueError(f"alpha must be {rgb.shape[:2]}, got {alpha.shape}")
        else:
            rgb = np.dstack([rgb, _to_uint8(np.asarray(alpha))])
    if not path.parent.is_dir():
        raise ProcessingError(f"{path}: cannot write, directory {path.parent} does not exist")
    if keep_metadata:
        data = _encode_pillow(rgb, ext, quality, *_exif_without_orientation(Path(metadata_from)))  # type: ignore[arg-type]
    else:
        data = _encode_opencv(path, rgb, ext, quality)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ProcessingError(f"{path}: cannot write ({exc.strerror or exc}); nothing was written") from exc
    return path


def _encode_opencv(path: Path, rgb: np.ndarray, ext: str, quality: int | None) -> bytes:
    params: list[int] = []
    if quality is not None and ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    elif quality is not None and ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    order = [2, 1, 0, 3][: rgb.shape[2]]  # RGB(A) -> BGR(A)
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[:, :, order]), params)
    if not ok:
        raise ProcessingError(f"{path}: OpenCV could not encode a {ext} image")
    return buf.tobytes()


_PIL_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}  # fmt: skip


def _encode_pillow(
    rgb: np.ndarray, ext: str, quality: int | None, exif: bytes | None, icc: bytes | None
) -> bytes:
    from PIL import Image

    fmt = _PIL_FORMATS[ext]
    kwargs: dict[str, object] = {}
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif
    if icc and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["icc_profile"] = icc
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality if quality is not None else 95
    out = io.BytesIO()
    Image.fromarray(rgb, "RGBA" if rgb.shape[2] == 4 else "RGB").save(out, format=fmt, **kwargs)
    return out.getvalue()
