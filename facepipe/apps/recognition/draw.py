"""Names on faces: green boxes for people in the gallery, red for unknown faces."""

from __future__ import annotations

import numpy as np

from facepipe.apps.recognition.recognizer import Identities
from facepipe.results import Detections

__all__ = ["draw_identities"]

KNOWN = (48, 220, 48)
UNKNOWN_COLOR = (230, 48, 48)


def draw_identities(image: np.ndarray, faces: Identities, *, show_distance: bool = True) -> np.ndarray:
    """A copy of RGB `image` with each face's box and name (and distance) drawn on it."""
    from facepipe.draw.drawing import draw_detections
    from facepipe.draw.styles import DrawingSpec

    out = image.copy()
    for mask, color in ((faces.known, KNOWN), (~faces.known, UNKNOWN_COLOR)):
        sel = faces[mask]
        if len(sel) == 0:
            continue
        labels = [f"{n} {d:.2f}" if show_distance and np.isfinite(d) else str(n)
                  for n, d in zip(sel.names, sel.distances)]
        dets = Detections(sel.xyxy, sel.points5, sel.scores, sel.image_size)
        draw_detections(out, dets, keypoint_spec=None, box_spec=DrawingSpec(color=color, thickness=2),
                        show_scores=False, labels=labels)
    return out
