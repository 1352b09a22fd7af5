"""Face-mesh outlines for the "hull" shape: redact exactly the face, following its turn and tilt.

Each region's box and keypoints become a face-mesh ROI (as MediaPipe's face
mesh derives one from a detection); the 468 landmarks found there give the
polygon. Regions too small for the mesh (< `min_side` px) or where the mesh
finds no face get None, and the redactor falls back to the ellipse for them.
"""

from __future__ import annotations

import numpy as np

from facepipe.results import Detections
from facepipe.runtime.options import RuntimeOptions

__all__ = ["FaceHulls"]


class FaceHulls:
    """Callable (rgb, regions) -> per region (468,2) landmark pixels or None."""

    def __init__(self, *, min_side: float = 24.0, min_presence: float = 0.5,
                 runtime: RuntimeOptions | None = None) -> None:
        from facepipe.solutions.face_mesh import FaceMesh, FaceMeshOptions

        self.min_side = min_side
        self._mesh = FaceMesh(FaceMeshOptions(static_image_mode=True, min_tracking_confidence=min_presence,
                                              runtime=runtime or RuntimeOptions()))

    def __call__(self, rgb: np.ndarray, regions: Detections) -> list[np.ndarray | None]:
        from facepipe.solutions.face_mesh import detection_rois

        out: list[np.ndarray | None] = [None] * len(regions)
        big = np.flatnonzero(regions.wh.max(1) >= self.min_side) if len(regions) else np.zeros(0, int)
        if big.size == 0:
            return out
        H, W = rgb.shape[:2]
        sel = regions[big]
        dets = Detections(sel.xyxy, sel.keypoints, sel.scores, (W, H))
        rois = detection_rois(dets)
        # The landmark stage on our ROIs (process() would run its own detector).
        mesh, _presence, keep = self._mesh.landmarks_in_rois(rgb, rois)
        px = mesh[:, :, :2] * np.array([W, H], np.float32)
        for j, i in enumerate(big[keep]):
            out[int(i)] = px[j]
        return out
