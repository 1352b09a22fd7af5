"""Live identification from a camera: names by each track's votes so far, preview or recording."""

from __future__ import annotations

import json
import logging
import sys
from fractions import Fraction
from pathlib import Path

import cv2

from facepipe.apps.recognition.draw import draw_identities
from facepipe.apps.recognition.recognizer import FaceRecognizer
from facepipe.apps.recognition.video import TrackIdentifier, TrackVoteOptions
from facepipe.jobs import open_camera

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
    ident = TrackIdentifier(recognizer, options)
    writer = None
    ok = False
    try:
        # The shared camera source: RGB frames, strictly increasing integer timestamps, one-line errors.
        with open_camera(device, max_frames=max_frames) as camera:
            for frame in camera:
                ids = ident.update(frame.image, frame.index)
                sys.stdout.write(json.dumps({"frame": frame.index, "timestamp_ms": frame.timestamp_ms,
                                             "faces": ids.to_faces()}) + "\n")
                if output is None and not show:
                    continue
                drawn = draw_identities(frame.image, ids)
                if output is not None:
                    if writer is None:
                        h, w = drawn.shape[:2]
                        writer = VideoWriter(output, width=w, height=h, fps=camera.fps, time_base=Fraction(1, 1000))
                    writer.write(drawn, frame.timestamp_ms)
                if show:
                    cv2.imshow(_WINDOW, cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
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
                writer.abort()  # no half-written recording
    return 0
