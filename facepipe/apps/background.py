"""Blur or replace the background of an image or a video, using the selfie segmentation mask.

The person mask (probability per pixel) is the alpha of a plain composite:
out = mask * image + (1 - mask) * background. The background is the image
blurred, a solid colour, or another image (scaled to cover the frame and
centre-cropped). In videos the mask can be blended with the previous frame's
where the new one is uncertain (MediaPipe's SegmentationSmoothing), which
removes most edge flicker; MediaPipe's selfie solution itself does no
smoothing, so `temporal_smoothing=0` gives its masks exactly.

    editor = BackgroundEditor(BackgroundOptions(mode="blur"))
    out = editor.process(rgb)                       # one image
    editor.process_video("in.mp4", "out.mp4")       # audio copied untouched
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from facepipe._fsutil import refuse_overwrite
from facepipe.runtime.options import RuntimeOptions, fold_num_threads_alias
from facepipe.solutions.selfie_segmentation import SelfieSegmentation, SelfieSegmentationOptions
from facepipe.stages.filters import smooth_segmentation

log = logging.getLogger(__name__)

__all__ = ["BackgroundOptions", "BackgroundEditor", "composite", "cover_resize", "BACKGROUND_MODES"]

BACKGROUND_MODES = ("blur", "color", "image")


@dataclass(frozen=True)
class BackgroundOptions:
    """mode: "blur" (the image blurred), "color" (solid `color`), "image" (`background` array).
    blur_sigma: Gaussian sigma as a fraction of the image diagonal (0.01 = 1 %).
    color: RGB of the solid background.
    background: RGB uint8 replacement image (any size; scaled to cover, centre-cropped).
    threshold: None = soft edges (the mask is the alpha); a value in (0,1) = hard cut at it.
    model_selection: 0 general (256x256), 1 landscape (256x144, faster).
    temporal_smoothing: video only: weight of the previous mask where the new one is
        uncertain (0 = none, MediaPipe's selfie output; 0.7 = MediaPipe's pose setting).
    """

    mode: str = "blur"
    blur_sigma: float = 0.01
    color: tuple[int, int, int] = (0, 177, 64)
    background: np.ndarray | None = None
    threshold: float | None = None
    model_selection: int = 0
    temporal_smoothing: float = 0.7
    num_threads: int | None = None  # deprecated: runtime.num_threads
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        fold_num_threads_alias(self)
        if self.mode not in BACKGROUND_MODES:
            raise ValueError(f"mode must be one of {BACKGROUND_MODES}, got {self.mode!r}")
        if self.mode == "image":
            bg = self.background
            if not isinstance(bg, np.ndarray) or bg.ndim != 3 or bg.shape[2] != 3 or bg.dtype != np.uint8:
                raise ValueError("mode 'image' needs background= an RGB uint8 (H, W, 3) array")
        if not self.blur_sigma > 0:
            raise ValueError(f"blur_sigma must be > 0, got {self.blur_sigma}")
        if len(self.color) != 3 or not all(0 <= int(c) <= 255 for c in self.color):
            raise ValueError(f"color must be three values in 0..255, got {self.color!r}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if not 0.0 <= self.temporal_smoothing < 1.0:
            raise ValueError(f"temporal_smoothing must be in [0, 1), got {self.temporal_smoothing}")


def cover_resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale `image` to cover width x height (aspect kept), then centre-crop to exactly that size."""
    h, w = image.shape[:2]
    s = max(width / w, height / h)
    nw, nh = max(width, round(w * s)), max(height, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, (nw, nh), interpolation=interp)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + height, x0 : x0 + width])


def composite(image: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """uint8 alpha * image + (1 - alpha) * background; alpha (H, W) in [0, 1]."""
    a = np.clip(alpha, 0.0, 1.0).astype(np.float32)[..., None]
    bg = background.astype(np.float32)
    out = bg + a * (image.astype(np.float32) - bg)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class BackgroundEditor:
    """Applies BackgroundOptions to images or video frames; one instance per video (it keeps
    the previous mask for temporal smoothing)."""

    def __init__(self, options: BackgroundOptions | None = None, *, model_path: str | None = None) -> None:
        self.options = o = options or BackgroundOptions()
        self.segmenter = SelfieSegmentation(SelfieSegmentationOptions(o.model_selection, runtime=o.runtime),
                                            model_path=model_path)
        self._prev_mask: np.ndarray | None = None
        self._bg_cache: tuple[tuple[int, int], np.ndarray] | None = None

    def reset(self) -> None:
        self._prev_mask = None

    def background_for(self, image: np.ndarray) -> np.ndarray:
        o = self.options
        H, W = image.shape[:2]
        if o.mode == "blur":
            sigma = o.blur_sigma * float(np.hypot(W, H))
            return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
        if self._bg_cache is None or self._bg_cache[0] != (W, H):
            if o.mode == "color":
                bg = np.empty((H, W, 3), np.uint8)
                bg[:] = np.asarray(o.color, np.uint8)
            else:
                bg = cover_resize(o.background, W, H)  # type: ignore[arg-type]
            self._bg_cache = ((W, H), bg)
        return self._bg_cache[1]

    def mask(self, image: np.ndarray, *, video: bool = False) -> np.ndarray:
        """(H, W) float32 alpha: the person mask, optionally smoothed over time and thresholded."""
        m = self.segmenter.process(image).mask
        if video and self.options.temporal_smoothing > 0:
            m = smooth_segmentation(m, self._prev_mask, self.options.temporal_smoothing)
            self._prev_mask = m
        if self.options.threshold is not None:
            m = (m > self.options.threshold).astype(np.float32)
        return m

    def process(self, image: np.ndarray, *, video: bool = False) -> np.ndarray:
        """The edited RGB uint8 image (video=True: use and update the previous-mask state)."""
        return composite(image, self.mask(image, video=video), self.background_for(image))

    def process_image(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
        from facepipe.io.image import read_image, write_image

        src, dst = Path(src), Path(dst)
        refuse_overwrite(dst, src)
        return write_image(dst, self.process(read_image(src)))

    def process_video(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        *,
        max_frames: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Edit every frame of `src` into `dst` (same timing, audio copied); returns frames written."""
        from facepipe.io.video import VideoReader, VideoWriter

        src, dst = Path(src), Path(dst)
        refuse_overwrite(dst, src)
        self.reset()
        n = 0
        with VideoReader(src) as reader, VideoWriter.like(reader, dst) as writer:
            for frame in reader:
                if max_frames is not None and n >= max_frames:
                    break
                writer.write(self.process(frame.image, video=True), frame)
                n += 1
                if progress is not None:
                    progress(n)
        log.info("wrote %s (%d frames)", dst, n)
        return n
