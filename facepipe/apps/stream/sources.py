"""Frame sources for live streaming: a video file (paced at its frame rate, or as fast as possible) or a camera.

Both drop frames rather than queue them when processing is slower than the
source: a camera keeps only its newest frame (a grabber thread reads it
continuously), and a paced video skips a frame that is already a whole frame
period late. `arrived` is when a frame became available (perf_counter): the
start of the frame-in -> packet-out latency.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facepipe.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["CameraSource", "SourceFrame", "VideoSource"]


@dataclass(frozen=True, eq=False)
class SourceFrame:
    index: int
    image: np.ndarray  # RGB uint8
    time_s: float
    arrived: float


class VideoSource:
    """Frames of a video file. realtime=True paces them at their timestamps and drops late ones;
    loop=True starts the video again at its end (a recorded performance played on repeat), with
    frame numbers and times continuing."""

    def __init__(self, path: str | Path, *, realtime: bool = True, max_frames: int | None = None,
                 loop: bool = False) -> None:
        from facepipe.io.video import VideoReader

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such video file")
        self._reader = VideoReader(self.path)
        rate = self._reader.info.fps
        self.fps = float(rate) if rate else 30.0
        self.realtime, self.max_frames, self.loop = realtime, max_frames, loop
        self.dropped = 0
        self.label = str(self.path)

    def _frames(self) -> Iterator[tuple[int, np.ndarray, float]]:
        """(index, image, time) over the video, again and again with loop=True."""
        from facepipe.io.video import VideoReader

        index, offset = 0, 0.0
        while True:
            last = None
            for frame in self._reader:
                last = frame.time
                yield index, frame.image, offset + frame.time
                index += 1
            if not self.loop or last is None:
                return
            offset += last + 1.0 / self.fps
            self._reader.close()
            self._reader = VideoReader(self.path)

    def __iter__(self) -> Iterator[SourceFrame]:
        period = 1.0 / self.fps
        start: float | None = None
        first_time = 0.0
        for index, image, t in self._frames():
            if self.max_frames is not None and index >= self.max_frames:
                break
            now = time.perf_counter()
            if not self.realtime:
                yield SourceFrame(index, image, t, now)
                continue
            if start is None:
                start, first_time = now, t
            due = start + (t - first_time)
            if now < due:
                time.sleep(due - now)
                now = time.perf_counter()
            elif now > due + period:  # a whole frame late: drop it, the next one may be on time
                self.dropped += 1
                continue
            yield SourceFrame(index, image, t, max(now, due))

    def close(self) -> None:
        self._reader.close()


class CameraSource:
    """Frames of camera `device` (an OpenCV device index, or anything cv2.VideoCapture opens, e.g. an
    rtsp:// URL); only the newest frame is ever waiting. The source ends when the capture stops."""

    def __init__(self, device: int | str, *, max_frames: int | None = None) -> None:
        self.device, self.max_frames = device, max_frames
        self.label = f"camera {device}"
        with _quiet_opencv():
            cap = cv2.VideoCapture(device)
            opened = cap.isOpened()
            grabbed, first = cap.read() if opened else (False, None)
        if not opened or not grabbed:
            cap.release()
            raise InputError(f"camera {device}: cannot be opened (not connected, busy, or no permission)")
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) or 30.0
        self.dropped = 0
        self._start = time.perf_counter()
        self._latest: tuple[int, np.ndarray, float] | None = (0, first, self._start)
        self._count = 1
        self._cond = threading.Condition()
        self._stop = False
        self._ended = False
        self._thread = threading.Thread(target=self._grab, name=f"camera-{device}", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    break
            grabbed, bgr = self._cap.read()
            now = time.perf_counter()
            with self._cond:
                if not grabbed:
                    self._ended = True
                    self._cond.notify_all()
                    break
                if self._latest is not None:
                    self.dropped += 1  # the previous frame was never taken
                self._latest = (self._count, bgr, now)
                self._count += 1
                self._cond.notify_all()

    def __iter__(self) -> Iterator[SourceFrame]:
        taken = 0
        while self.max_frames is None or taken < self.max_frames:
            with self._cond:
                while self._latest is None and not self._ended:
                    self._cond.wait(0.5)
                if self._latest is None:
                    break
                index, bgr, arrived = self._latest
                self._latest = None
            taken += 1
            yield SourceFrame(index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), arrived - self._start, arrived)

    def close(self) -> None:
        with self._cond:
            self._stop = True
        self._thread.join(timeout=2.0)
        self._cap.release()


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV's own warnings about a missing camera would repeat our one-line error."""
    logging_mod = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_mod is None:  # pragma: no cover - very old OpenCV
        yield
        return
    old = logging_mod.getLogLevel()
    logging_mod.setLogLevel(logging_mod.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_mod.setLogLevel(old)
