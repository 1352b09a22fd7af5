"""Live anonymization of a camera: preview window when there is a display, optional recording.

Live frames cannot wait for later ones, so only forward holding protects
them (no backfill). OpenCV builds without GUI support (opencv-python-headless,
the default dependency) cannot open a window: then the stream can still be
recorded with an output file, and without one the run stops with a message
saying so.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from facepipe.apps.anonymize.options import AnonymizeOptions
from facepipe.apps.anonymize.pipeline import Anonymizer
from facepipe.errors import InputError
from facepipe.jobs import FileReport, LiveView, gui_available, open_camera

log = logging.getLogger("facepipe.anonymize")

__all__ = ["parse_camera", "gui_available", "run_camera"]  # gui_available: jobs.live's, named here as before

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
    start = time.perf_counter()
    # The view outside the camera: Ctrl-C while the camera opens is a normal stop too.
    with LiveView(show=show, output=output, window=_WINDOW, video=options.video) as view, \
            open_camera(device, max_frames=max_frames) as camera:
        for frame in camera:
            result = anonymizer.process_frame(frame.image)
            report.frames += 1
            report.regions += len(result.regions)
            if not view.put(result.image, frame.timestamp_ms, fps=camera.fps):
                break
    report.seconds = time.perf_counter() - start
    return report
