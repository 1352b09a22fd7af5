"""Live identification from a camera: names by each track's votes so far, preview or recording."""

from __future__ import annotations

import json
import logging
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2

from facepipe.apps.recognition.draw import draw_identities
from facepipe.apps.recognition.recognizer import FaceRecognizer
from facepipe.apps.recognition.video import TrackIdentifier, TrackVoteOptions
from facepipe.errors import InputError

log = logging.getLogger(__name__)

__all__ = ["run_camera"]

_WINDOW = "facepipe faces identify (q to quit)"


def run_camera(recognizer: FaceRecognizer, device: int, output: Path | None = None,
               options: TrackVoteOptions | None = None, *, max_frames: int | None = None) -> int:
    """Identify faces on camera `device` until q / Ctrl-C / `max_frames`. Each frame's JSON goes to
    standard output as one line; the annotated stream is shown (GUI) and/or recorded to `output`."""
    from facepipe.apps.anonymize.camera import gui_available
    from facepipe.io.video import VideoWriter

    show = gui_available()
    cap = cv2.VideoCapture(device)
    if not cap.isOpened():
        raise InputError(f"camera {device}: cannot be opened (not connected, busy, or no permission)")
    ident = TrackIdentifier(recognizer, options)
    writer = None
    start = time.perf_counter()
    frames = 0
    ok = False
    try:
        while max_frames is None or frames < max_frames:
            grabbed, bgr = cap.read()
            if not grabbed:
                if frames == 0:
                    raise InputError(f"camera {device}: delivers no frames")
                break
            t_ms = (time.perf_counter() - start) * 1000.0
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            ids = ident.update(rgb, frames)
            sys.stdout.write(json.dumps({"frame": frames, "timestamp_ms": round(t_ms, 1),
                                         "faces": ids.to_faces()}) + "\n")
            if output is not None or show:
                drawn = draw_identities(rgb, ids)
                if output is not None:
                    if writer is None:
                        h, w = drawn.shape[:2]
                        writer = VideoWriter(output, width=w, height=h, fps=cap.get(cv2.CAP_PROP_FPS) or 30.0,
                                             time_base=Fraction(1, 1000))
                    pts = round(t_ms)
                    if writer.last_pts is not None and pts <= writer.last_pts:
                        pts = writer.last_pts + 1
                    writer.write(drawn, pts)
                if show:
                    cv2.imshow(_WINDOW, cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
                    if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                        break
            frames += 1
        ok = True
    except KeyboardInterrupt:
        ok = True  # stopping a live stream is the normal way to end it
    finally:
        cap.release()
        if show:
            cv2.destroyAllWindows()
        if writer is not None:
            if ok:
                writer.close()
            else:
                writer.abort()  # no half-written recording
    return 0
