"""The end of a live run: a preview window, a recording, and the ways a live stream stops.

    with LiveView(show=gui_available(), output=path, window="facepipe app (q to quit)") as view:
        with open_camera(0) as camera:
            for f in camera:
                if not view.put(draw(f.image), f.timestamp_ms, fps=camera.fps):
                    break                                  # q or Esc in the window

The recording starts on the first frame (its size) with a millisecond time base: a camera's
real rate varies, so frames keep their wall-clock timestamps. Ctrl-C is the normal end of a
live stream: the view swallows it and closes the recording; any other error aborts the
recording (no half-written file) and goes on.
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from facepipe.io.video import VideoEncodeOptions, VideoWriter

__all__ = ["LiveView", "gui_available"]

_PROBE_WINDOW = "facepipe"


def gui_available() -> bool:
    """Whether OpenCV can open a window here (needs GUI support compiled in and a display)."""
    if (os.name == "posix" and sys.platform != "darwin"
            and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))):
        return False
    try:
        cv2.namedWindow(_PROBE_WINDOW, cv2.WINDOW_NORMAL)
        cv2.destroyWindow(_PROBE_WINDOW)
        return True
    except cv2.error:
        return False


class LiveView:
    """Shows and/or records the frames of a live run (see the module docstring)."""

    def __init__(self, *, show: bool, output: Path | None, window: str,
                 video: VideoEncodeOptions | None = None) -> None:
        self.show = show
        self.output = output
        self.window = window
        self.video = video
        self.writer: VideoWriter | None = None

    @property
    def wanted(self) -> bool:
        """Whether frames given to `put` go anywhere (a window or a recording)."""
        return self.show or self.output is not None

    def put(self, image: np.ndarray, timestamp_ms: int, *, fps: float | Fraction | None) -> bool:
        """Record and show one RGB frame; False once the viewer pressed q or Esc."""
        if self.output is not None:
            if self.writer is None:
                h, w = image.shape[:2]
                self.writer = VideoWriter(self.output, width=w, height=h, fps=fps, time_base=Fraction(1, 1000),
                                          options=self.video)
            self.writer.write(image, timestamp_ms)
        if self.show:
            cv2.imshow(self.window, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                return False
        return True

    def __enter__(self) -> LiveView:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        try:
            if self.show:
                cv2.destroyAllWindows()
        finally:
            if self.writer is not None:
                if exc_type is None or interrupted:
                    self.writer.close()
                else:
                    self.writer.abort()  # no half-written recording
        return interrupted  # stopping a live stream is the normal way to end it
