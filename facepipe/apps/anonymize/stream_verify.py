"""The stream's second opinion, in frame order: recent confirmations reused.

In a crowd most weak detections are the same faces frame after frame, and the verifier
(verify.py) re-checked each of them every frame: its cost grew with face-frames. With
`VerifyOptions.reuse_frames` K > 0, a stream's `FaceFinder` leaves its weak detections
unchecked (`extras["unchecked"]`; it runs frames in parallel, so it cannot remember), and
`StreamVerifier`, fed the frames in order, checks them:

* a weak detection whose box has IoU >= `reuse_iou` with a box that a real check confirmed
  in one of the last K frames, YuNet finding no other face in that box's crop, is confirmed
  without a check;
* every other one is checked (face mesh, then YuNet), and the boxes so confirmed are remembered.

Only confirmations are reused: a rejection reused could uncover a face. Reused verdicts are
not remembered, so every face is really checked at least every K + 1 frames. The memory ends
at a scene cut (`new_shot`) and at `reset`. Its verdicts depend only on the frames and their
detections, in order: not on how many frames the finder ran at once.

Why not every confirmation: YuNet's crop around a weak box is three boxes wide, and in a crowd
it also sees the neighbours; those faces (scored 0.8-0.9 by YuNet) are added and merged into the
neighbours' weak boxes, which makes them confident for the tracker. Reusing those checks too
(a quarter more reuses) lost those faces on the frames between checks, and on the hamilton
audience a track then wandered from Barack Obama's face over three others
(tests/test_anonymize_video_precision.py); reusing only the checks that found nothing beside keeps
every track there on its face. Measured: benchmarks/RESULTS.md, "Verdicts reused".
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace

import numpy as np

from facepipe.apps.anonymize.detect import FaceFinderOptions, scaled
from facepipe.apps.anonymize.verify import FaceVerifier, Verdicts, apply_verdicts
from facepipe.results import Detections, box_iou

__all__ = ["StreamVerifier"]

log = logging.getLogger(__name__)


class StreamVerifier:
    """Callable (rgb, detections, index, new_shot) -> detections, checked: the weak detections a
    stream `FaceFinder` marked `extras["unchecked"]` (with the finder's `FaceFinderOptions`).
    Detections without that mark pass unchanged. Frames must come in order; not thread-safe.

    verifier: the models to check with (default: loaded on the first detection to check).
    `checked` and `reused` count the detections checked by the models and confirmed from memory.
    """

    def __init__(self, options: FaceFinderOptions | None = None, *, verifier: FaceVerifier | None = None) -> None:
        self.options = options or FaceFinderOptions()
        self._verifier = verifier
        self._confirmed: deque[tuple[int, np.ndarray]] = deque()  # (frame, boxes a real check confirmed)
        self.checked = 0
        self.reused = 0

    def reset(self) -> None:
        """Forget the confirmed boxes (call between unrelated videos)."""
        self._confirmed.clear()

    def __call__(self, rgb: np.ndarray, dets: Detections, index: int, new_shot: int | None = None) -> Detections:
        """Frame `index`'s detections with the unchecked ones checked (or confirmed from memory).
        new_shot: a shot starts at this frame (<= index): what was confirmed before it is forgotten."""
        v = self.options.verify
        while self._confirmed and (self._confirmed[0][0] < index - v.reuse_frames
                                   or (new_shot is not None and self._confirmed[0][0] < new_shot)):
            self._confirmed.popleft()
        unchecked = dets.extras.get("unchecked") if dets.extras else None
        if unchecked is None:
            return dets
        weak = np.asarray(unchecked, bool)
        dets = replace(dets, extras={k: a for k, a in dets.extras.items() if k not in ("unchecked", "verified")})
        ok = ~weak
        found = Detections.empty(6, dets.image_size)
        if weak.any():
            boxes = dets.xyxy[weak]
            verdict = np.zeros(len(boxes), bool)
            if v.reuse_frames > 0 and self._confirmed:
                recent = np.concatenate([b for _, b in self._confirmed])
                if len(recent):
                    verdict = (box_iou(boxes, recent) >= v.reuse_iou).any(1)
            check = ~verdict
            if check.any():
                got, found = self._check(rgb, dets[weak][check])
                verdict[check] = got.ok
                self._confirmed.append((index, boxes[check][got.ok & (got.beside == 0)]))
            self.checked += int(check.sum())
            self.reused += int((~check).sum())
            ok[weak] = verdict
        return apply_verdicts(dets, ok, found, mark_only=v.mark_only, nms_iou=self.options.nms_iou)

    def _check(self, rgb: np.ndarray, dets: Detections) -> tuple[Verdicts, Detections]:
        """The verifier's verdicts on `dets` and the faces it found beside them, in frame pixels; on
        the frame at the finder's `scale`, as the finder checks."""
        o = self.options
        if self._verifier is None:
            self._verifier = FaceVerifier(o.verify, runtime=o.runtime)
        work = scaled(rgb, o.scale)
        if work is rgb:
            got = self._verifier.check(rgb, dets)
            return got, got.found
        H, W = rgb.shape[:2]
        sx, sy = W / work.shape[1], H / work.shape[0]
        got = self._verifier.check(work, dets.mapped((1 / sx, 1 / sy), image_size=(work.shape[1], work.shape[0])))
        return got, got.found.mapped((sx, sy), image_size=(W, H))
