"""mp.Image / mp.ImageFormat: an image for the Tasks API (CPU, numpy-backed)."""

from __future__ import annotations

import enum
import os

import numpy as np

__all__ = ["Image", "ImageFormat"]


class ImageFormat(enum.IntEnum):
    UNKNOWN = 0
    SRGB = 1
    SRGBA = 2
    GRAY8 = 3
    GRAY16 = 4
    YCBCR420P = 5
    YCBCR420P10 = 6
    SRGB48 = 7
    SRGBA64 = 8
    VEC32F1 = 9
    LAB8 = 10
    SBGRA = 11
    VEC32F2 = 12


_CHANNELS = {ImageFormat.SRGB: 3, ImageFormat.SRGBA: 4, ImageFormat.GRAY8: 1, ImageFormat.SBGRA: 4,
             ImageFormat.GRAY16: 1, ImageFormat.SRGB48: 3, ImageFormat.SRGBA64: 4, ImageFormat.VEC32F1: 1,
             ImageFormat.VEC32F2: 2}
_DTYPES = {ImageFormat.GRAY16: np.uint16, ImageFormat.SRGB48: np.uint16, ImageFormat.SRGBA64: np.uint16,
           ImageFormat.VEC32F1: np.float32, ImageFormat.VEC32F2: np.float32}


class Image:
    """Image(image_format=ImageFormat.SRGB, data=rgb_uint8_array), or Image.create_from_file(path)."""

    def __init__(self, image_format: ImageFormat, data: np.ndarray) -> None:
        fmt = ImageFormat(image_format)
        if fmt not in _CHANNELS:
            raise ValueError(f"facepipe.compat's Image does not support {fmt.name}")
        arr = np.asarray(data)
        want = _DTYPES.get(fmt, np.uint8)
        if arr.dtype != want:
            raise TypeError(f"{fmt.name} data must be {np.dtype(want).name}, got {arr.dtype}")
        channels = 1 if arr.ndim == 2 else arr.shape[2] if arr.ndim == 3 else -1
        if channels != _CHANNELS[fmt]:
            raise ValueError(f"Input image must have {_CHANNELS[fmt]} channel(s) for {fmt.name}, got shape "
                             f"{arr.shape}")
        self._format = fmt
        self._data = np.array(arr, copy=True, order="C")  # MediaPipe copies the array into its ImageFrame
        self._data.setflags(write=False)

    @classmethod
    def create_from_file(cls, file_name: str | os.PathLike[str]) -> Image:
        """Decode an image file (cv2; no EXIF rotation, as MediaPipe). PNG alpha gives SRGBA, grey GRAY8.

        MediaPipe decodes with stb_image: PNGs give the same pixels, JPEGs may differ by a few levels.
        """
        import cv2

        path = os.fspath(file_name)
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise RuntimeError(f"Image decoding failed (unknown image type): {path}")
        if raw.dtype != np.uint8:
            raw = (raw / 257.0).round().astype(np.uint8) if raw.dtype == np.uint16 else raw.astype(np.uint8)
        if raw.ndim == 2:
            return cls(ImageFormat.GRAY8, raw)
        if raw.shape[2] == 4:
            return cls(ImageFormat.SRGBA, cv2.cvtColor(raw, cv2.COLOR_BGRA2RGBA))
        return cls(ImageFormat.SRGB, cv2.cvtColor(raw, cv2.COLOR_BGR2RGB))

    @property
    def image_format(self) -> ImageFormat:
        return self._format

    @property
    def width(self) -> int:
        return int(self._data.shape[1])

    @property
    def height(self) -> int:
        return int(self._data.shape[0])

    @property
    def channels(self) -> int:
        return 1 if self._data.ndim == 2 else int(self._data.shape[2])

    def numpy_view(self) -> np.ndarray:
        """The pixels, read-only (as MediaPipe's view)."""
        return self._data

    def is_contiguous(self) -> bool:
        return True

    def is_empty(self) -> bool:
        return self._data.size == 0

    def is_aligned(self, alignment_boundary: int) -> bool:
        return self._data.ctypes.data % alignment_boundary == 0

    def uses_gpu(self) -> bool:
        return False

    def _rgb(self) -> np.ndarray:
        """RGB uint8 (H, W, 3) pixels for the models (alpha dropped, grey replicated, as MediaPipe converts)."""
        d = self._data
        if self._format is ImageFormat.SRGB:
            return d
        if self._format in (ImageFormat.SRGBA,):
            return np.ascontiguousarray(d[:, :, :3])
        if self._format is ImageFormat.SBGRA:
            return np.ascontiguousarray(d[:, :, 2::-1])
        if self._format is ImageFormat.GRAY8:
            g = d if d.ndim == 2 else d[:, :, 0]
            return np.repeat(g[:, :, None], 3, axis=2)
        raise ValueError(f"the Tasks models take SRGB, SRGBA, SBGRA or GRAY8 images, got {self._format.name}")
