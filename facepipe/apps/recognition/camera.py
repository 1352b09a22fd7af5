"""Live identification from a camera: names by each track's votes so far, preview or recording."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from facepipe.apps.recognition.draw import draw_identities
from facepipe.apps.recognition.recognizer import FaceRecognizer
from facepipe.apps.recognition.video import TrackIdentifier, TrackVoteOptions
from facepipe.jobs import LiveView, gui_available, open_camera

log = logging.getLogger(__name__)

__all__ = ["run_camera"]

_WINDOW = "facepipe faces identify (q to quit)"


def run_camera(recognizer: FaceRecognizer, device: int, output: Path | None = None,
               options: TrackVoteOptions | None = None, *, max_frames: int | None = None) -> int:
    """Identify faces on camera `device` until q / Ctrl-C / `max_frames`. Each frame's JSON goes to
    standard output as one line; the annotated stream is shown (GUI) and/or recorded to `output`."""
    ident = TrackIdentifier(recognizer, options)
    # The shared camera source (RGB frames, strictly increasing integer timestamps, one-line errors)
    # and the shared end of a live run (window, recording, q/Esc/Ctrl-C).
    with LiveView(show=gui_available(), output=output, window=_WINDOW) as view, \
            open_camera(device, max_frames=max_frames) as camera:
        for frame in camera:
            ids = ident.update(frame.image, frame.index)
            sys.stdout.write(json.dumps({"frame": frame.index, "timestamp_ms": frame.timestamp_ms,
                                         "faces": ids.to_faces()}) + "\n")
            if view.wanted and not view.put(draw_identities(frame.image, ids), frame.timestamp_ms, fps=camera.fps):
                break
    return 0
