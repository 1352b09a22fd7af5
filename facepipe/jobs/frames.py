"""Frames of a photo, a video or a camera, with the strictly increasing integer millisecond
timestamps that tracking solutions (MediaPipe's VIDEO mode) require.

    with open_media(path, max_frames=100) as media:        # or open_camera(0)
        for f in media:                                    # MediaFrame: index, image, timestamp_ms
            result = landmarker.detect_for_video(f.image, f.timestamp_ms)
        media.is_video, media.fps, media.reader            # reader: for VideoWriter.like(...)
    with open_media(path) as media:                        # a solution's IMAGE or VIDEO mode by the source
        for index, timestamp_ms, result in media.results(landmarker.detect, landmarker.detect_for_video): ...

A photo is one frame, index 0 at 0 ms. A video's frames carry their own presentation time
(variable frame rates keep their timing); two frames within one millisecond, or a clock that
goes back, get the previous timestamp + 1 (`MonotonicMs`). A camera's frames are stamped with
the wall clock since the first frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from facepipe.errors import InputError
from facepipe.io.image import read_image
from facepipe.io.video import Frame, VideoReader, is_video_file

__all__ = ["MediaFrame", "MediaSource", "MonotonicMs", "open_camera", "open_media"]

R = TypeVar("R")


class MonotonicMs:
    """Integer milliseconds from seconds, strictly increasing from call to call."""

    def __init__(self) -> None:
        self.last: int | None = None

    def __call__(self, seconds: float) -> int:
        ms = int(round(seconds * 1000.0))
        if self.last is not None and ms <= self.last:
            ms = self.last + 1
        self.last = ms
        return ms


@dataclass(frozen=True, eq=False)
class MediaFrame:
    """index: 0, 1, ... timestamp_ms: strictly increasing. image: RGB uint8 (H, W, 3), upright.
    source: the decoded video `Frame` (exact pts for a writer), None for photos and cameras."""

    index: int
    image: np.ndarray
    timestamp_ms: int
    source: Frame | None = None


class MediaSource:
    """Iterate once for the frames; close when done (a `with` block does). fps: nominal frame rate
    (None for a photo)."""

    is_video: bool = False
    is_camera: bool = False
    name: str = ""
    reader: VideoReader | None = None
    fps: float | None = None

    def __iter__(self) -> Iterator[MediaFrame]:
        raise NotImplementedError

    def results(self, image: Callable[[np.ndarray], R],
                video: Callable[[np.ndarray, int], R]) -> Iterator[tuple[int, int | None, R]]:
        """(index, timestamp_ms, result) of every frame: a video's or a camera's frames go through
        `video(image, timestamp_ms)` (a tracking solution's VIDEO mode), a photo through `image(image)`
        with timestamp None."""
        for f in self:
            if self.is_video:
                yield f.index, f.timestamp_ms, video(f.image, f.timestamp_ms)
            else:
                yield f.index, None, image(f.image)

    def close(self) -> None:
        pass

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Photo(MediaSource):
    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.image = read_image(path)

    def __iter__(self) -> Iterator[MediaFrame]:
        yield MediaFrame(0, self.image, 0)


class _Video(MediaSource):
    is_video = True

    def __init__(self, path: Path, max_frames: int | None) -> None:
        self.name = str(path)
        self.reader = VideoReader(path)
        self.max_frames = max_frames
        self.fps = float(self.reader.info.fps) if self.reader.info.fps else None

    def __iter__(self) -> Iterator[MediaFrame]:
        clock = MonotonicMs()
        for frame in self.reader:  # type: ignore[union-attr]
            if self.max_frames is not None and frame.index >= self.max_frames:
                break
            yield MediaFrame(frame.index, frame.image, clock(frame.time), frame)

    def close(self) -> None:
        self.reader.close()  # type: ignore[union-attr]


class _Camera(MediaSource):
    is_camera = True
    is_video = True

    def __init__(self, device: int, max_frames: int | None) -> None:
        import cv2

        self.name = f"camera {device}"
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(f"camera {device}: cannot be opened (not connected, busy, or no permission)")
        self.max_frames = max_frames
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 30.0)

    def __iter__(self) -> Iterator[MediaFrame]:
        import cv2

        clock = MonotonicMs()
        start = None
        index = 0
        while self.max_frames is None or index < self.max_frames:
            grabbed, bgr = self._cap.read()
            if not grabbed:
                if index == 0:
                    raise InputError(f"{self.name}: delivers no frames")
                return
            now = time.perf_counter()
            start = now if start is None else start
            yield MediaFrame(index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), clock(now - start))
            index += 1

    def close(self) -> None:
        self._cap.release()


def open_media(path: str | Path, *, max_frames: int | None = None) -> MediaSource:
    """A photo's or a video's frames (by extension; InputError naming the file if unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return _Video(path, max_frames) if is_video_file(path) else _Photo(path)


def open_camera(device: int, *, max_frames: int | None = None) -> MediaSource:
    """Camera `device`'s frames until it stops delivering or `max_frames`."""
    return _Camera(device, max_frames)
