"""Live anonymization of a camera: preview window when there is a display, optional recording.

Live frames cannot wait for later ones, so only forward holding protects
them (no backfill). OpenCV builds without GUI support (opencv-python-headless,
the default dependency) cannot open a window: then the stream can still be
recorded with an output file, and without one the run stops with a message
saying so.
"""

from __future__ import annotations

import logging
import os
import time
from fractions import Fraction
from pathlib import Path

import cv2

from facepipe.apps.anonymize.options import AnonymizeOptions
from facepipe.apps.anonymize.pipeline import Anonymizer
from facepipe.errors import InputError
from facepipe.io.video import VideoWriter
from facepipe.jobs import FileReport, open_camera

log = logging.getLogger("facepipe.anonymize")

__all__ = ["parse_camera", "gui_available", "run_camera"]

_WINDOW = "facepipe anonymize (q to quit)"


def parse_camera(spec: str) -> int | None:
    """Device index for "cam", "cam:N", "camN" or a bare number that is not an existing file; else None."""
    s = spec.strip().lower()
    if s in ("cam", "camera", "webcam"):
        return 0
    for prefix in ("cam:", "camera:", "cam"):
        if s.startswith(prefix) and s[len(prefix):].isdigit():
            return int(s[len(prefix):])
    if s.isdigit() and not Path(spec).exists():
        return int(s)
    return None


def gui_available() -> bool:
    """Whether OpenCV can open a window here (needs GUI support compiled in and a display)."""
    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        import sys

        if sys.platform != "darwin":
            return False
    try:
        cv2.namedWindow(_WINDOW, cv2.WINDOW_NORMAL)
        cv2.destroyWindow(_WINDOW)
        return True
    except cv2.error:
        return False


def run_camera(device: int, options: AnonymizeOptions | None = None, *, output: Path | None = None,
               preview: bool | None = None, max_frames: int | None = None) -> FileReport:
    """Anonymize camera `device` until q / Ctrl-C / `max_frames`; record to `output` if given."""
    options = options or AnonymizeOptions()
    show = gui_available() if preview is None else preview
    if show and not gui_available():
        raise InputError("no live preview possible: OpenCV has no GUI support here (opencv-python-headless)"
                         " or there is no display; record with -o FILE instead")
    if not show and output is None:
        raise InputError("no display for a live preview (OpenCV without GUI support, e.g. opencv-python-headless,"
                         " or no DISPLAY); give -o FILE to record the anonymized camera stream instead")
    report = FileReport(Path(f"camera:{device}"), "camera", [output] if output is not None else [])
    anonymizer = Anonymizer(options)
    writer: VideoWriter | None = None
    start = time.perf_counter()
    ok = False
    try:
        with open_camera(device, max_frames=max_frames) as camera:
            for frame in camera:
                result = anonymizer.process_frame(frame.image)
                if output is not None:
                    if writer is None:
                        h, w = result.image.shape[:2]
                        # Wall-clock timestamps in ms: a camera's real rate varies.
                        writer = VideoWriter(output, width=w, height=h, fps=camera.fps, time_base=Fraction(1, 1000),
                                             options=options.video)
                    writer.write(result.image, frame.timestamp_ms)
                report.frames += 1
                report.regions += len(result.regions)
                if show:
                    cv2.imshow(_WINDOW, cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR))
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        break
        ok = True
    except KeyboardInterrupt:
        ok = True  # stopping a live stream is the normal way to end it
    finally:
        if show:
            cv2.destroyAllWindows()
        if writer is not None:
            if ok:
                writer.close()
            else:
                writer.abort()
    report.seconds = time.perf_counter() - start
    return report

